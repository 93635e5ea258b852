# Voxelisation for SPVCNN-style students: 0.1 m voxels over x, y in [-50, 50], z in [-4, 2]
# (grid 1000 x 1000 x 60, the paper's); every point is kept and mapped to its voxel.
data_preprocessor = dict(
    type='PointImageDataPreprocessor',
    voxel=True,
    voxel_type='point_voxel',
    voxel_layer=dict(max_num_points=-1, point_cloud_range=[-50, -50, -4, 50, 50, 2],
                     voxel_size=[0.1, 0.1, 0.1], max_voxels=(-1, -1)))
