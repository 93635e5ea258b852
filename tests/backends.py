"""The sparse-convolution backends to run a test on: spconv always; torchsparse where it is installed
(CI builds torchsparse 1.4.0; elsewhere its tests skip and say how to get it)."""
import importlib.util

import pytest

TORCHSPARSE_MISSING = ('torchsparse 1.4.0 is not installed here: run tools/setup_env.sh with ELITE_TORCHSPARSE='
                       '<its source tarball or directory, or git> (CI does) to test it')
needs_torchsparse = pytest.mark.skipif(importlib.util.find_spec('torchsparse') is None, reason=TORCHSPARSE_MISSING)
BACKENDS = ['spconv', pytest.param('torchsparse', marks=needs_torchsparse)]
