# GPAW build configuration used by `make` (passed to pip through GPAW_CONFIG).
# Matches Debian 12 packages: libxc-dev libopenblas-dev libfftw3-dev
# libopenmpi-dev openmpi-bin libscalapack-openmpi-dev.
# On a cluster, copy this file, load your MPI/BLAS/FFTW modules and add their
# paths to library_dirs / include_dirs / runtime_library_dirs (see docs/install.md).
mpi = True
compiler = 'mpic++'
fftw = True
scalapack = True
libraries += ['fftw3', 'openblas', 'scalapack-openmpi']  # noqa: F821 ('xc' is GPAW's default)
