"""Adsorption sites: enumeration on slabs, clusters and supported clusters; adsorbates."""

from heterocat.sites.find import find_sites, site_table
from heterocat.sites.records import Site, SiteEnumeration, fingerprint

__all__ = ["Site", "SiteEnumeration", "find_sites", "fingerprint", "site_table"]
