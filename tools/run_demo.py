"""The main job on the built-in synthetic dataset (README's first command).

Generates ``data/synthetic_kitti/`` (once), builds its infos, runs one sample through the camera+LiDAR
training pipeline and the data preprocessor, and saves the sample's points projected on its cropped image
to ``work_dirs/demo/points_on_image.png``.
"""
import argparse
import os
import sys

import cv2
import numpy as np
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

from elite.datasets.semantickitti_infos import create_semantickitti_infos
from elite.datasets.synthetic import write_dataset
from elite.visualization import denormalize_image, draw_points_on_image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ensure_synthetic_data(root: str, frames: int, points: int) -> None:
    if not os.path.isdir(os.path.join(root, 'sequences')):
        print(f'generating the synthetic dataset under {root} ...')
        write_dataset(root, ('00', '08', '11'), frames=frames, num_points=points, seed=0)
    if not os.path.isfile(os.path.join(root, 'semantickitti_infos_train.pkl')):
        create_semantickitti_infos(root, root, 'semantickitti')


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--config', default=os.path.join(REPO, 'configs/_base_/datasets/synthetic_kitti_mm.py'))
    parser.add_argument('--preprocessor', default=os.path.join(
        REPO, 'configs/_base_/models/point_image_data_preprocessor.py'))
    parser.add_argument('--data-root', default=os.path.join(REPO, 'data/synthetic_kitti'))
    parser.add_argument('--work-dir', default=os.path.join(REPO, 'work_dirs/demo'))
    parser.add_argument('--frames', type=int, default=4)
    parser.add_argument('--points', type=int, default=30000)
    args = parser.parse_args(argv)

    ensure_synthetic_data(args.data_root, args.frames, args.points)
    init_default_scope('mmdet3d')
    from mmdet3d.registry import DATASETS, MODELS  # after elite's import registered the plugin
    cfg = Config.fromfile(args.config)
    cfg.train_dataloader.dataset.data_root = args.data_root
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    sample = dataset[0]
    preprocessor = MODELS.build(Config.fromfile(args.preprocessor).data_preprocessor)
    batch = preprocessor(pseudo_collate([sample]), training=True)
    data_sample = batch['data_samples'][0]
    points = batch['inputs']['points'][0]
    voxels = batch['inputs']['voxels']
    print(f'frames: train {len(dataset)}; sample 0: {len(points)} points, '
          f'{len(data_sample.point2img_index)} on the {tuple(data_sample.img_shape)} crop, '
          f'{len(voxels["coors"])} voxels, image batch {tuple(batch["inputs"]["imgs"].shape)}')

    img = denormalize_image(batch['inputs']['imgs'][0].numpy(), data_sample.img_shape)
    labels = data_sample.gt_pts_seg.pts_semantic_mask.numpy()[data_sample.point2img_index.numpy()]
    palette = np.array(dataset.metainfo['palette'] + [[128, 128, 128]], dtype=np.uint8)
    overlay = draw_points_on_image(img, data_sample.img_indices.numpy(), palette[labels], radius=2)
    os.makedirs(args.work_dir, exist_ok=True)
    out = os.path.join(args.work_dir, 'points_on_image.png')
    cv2.imwrite(out, np.concatenate([img, overlay], axis=0)[:, :, ::-1])
    print(f'saved {out} (top: cropped camera image; bottom: its LiDAR points coloured by class)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
