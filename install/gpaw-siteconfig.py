"""GPAW build configuration for a serial CPU build against system libraries.

Used as ``GPAW_CONFIG=install/gpaw-siteconfig.py pip install gpaw`` (see ``install/gpaw.sh``).
GPAW's C sources are compiled as C++ here because the plain C build fails with recent compilers;
MPI is off so that an Open MPI on the machine does not switch the build to ``mpicc``.
Needs the Debian packages libxc-dev, libopenblas-dev and libfftw3-dev.
"""

compiler = "g++"
mpi = False
libraries += ["blas"]  # noqa: F821 -- GPAW's setup.py defines ``libraries`` before exec'ing this
fftw = True
libraries += ["fftw3"]
