"""Sparse convolution backends behind one small interface (spconv 2.x; torchsparse when importable)."""
from .backend import SparseBackend, available_backends, get_sparse_backend

__all__ = ['SparseBackend', 'available_backends', 'get_sparse_backend']
