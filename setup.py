"""Installs the ``elite`` package (projects/ELiTe/elite) as an MMDetection3D plugin."""
from setuptools import find_packages, setup

setup(
    name='elite-mmdet3d',
    version='0.1.0',
    description='ELiTe: efficient image-to-LiDAR knowledge transfer for semantic segmentation (MMDetection3D plugin)',
    package_dir={'': 'projects/ELiTe'},
    packages=find_packages('projects/ELiTe'),
    python_requires='>=3.9,<3.12',
)
