"""Figures: PNG and SVG, with the plotted data as CSV beside each one."""
