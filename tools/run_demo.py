"""The main job on the built-in synthetic dataset (README's first command).

Generates ``data/synthetic_kitti/`` (once) and its infos, saves one training sample's LiDAR points projected
on its cropped camera image (``work_dirs/demo/points_on_image.png``), then trains ELiTe's demo config (the
student distilled from a small random-weight SAM teacher), tests the student on the validation sequence and
prints its mIoU.
"""
import argparse
import os
import sys

import cv2
import numpy as np
from mmengine.config import Config, DictAction
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

import elite  # noqa: F401  (first: registers the plugin and quiets third-party import warnings)
from elite.datasets.synthetic import ensure_synthetic_dataset
from elite.visualization import draw_points_on_image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def save_sample_overlay(config: str, preprocessor_config: str, data_root: str, out: str) -> None:
    """One training sample through the camera+LiDAR pipeline and the preprocessor, drawn as a PNG."""
    init_default_scope('mmdet3d')
    from mmdet3d.registry import DATASETS, MODELS  # after elite's import registered the plugin
    cfg = Config.fromfile(config)
    cfg.train_dataloader.dataset.data_root = data_root
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    sample = dataset[0]
    preprocessor = MODELS.build(Config.fromfile(preprocessor_config).data_preprocessor)
    batch = preprocessor(pseudo_collate([sample]), training=True)
    data_sample = batch['data_samples'][0]
    points = batch['inputs']['points'][0]
    voxels = batch['inputs']['voxels']
    print(f'frames: train {len(dataset)}; sample 0: {len(points)} points, '
          f'{len(data_sample.point2img_index)} on the {tuple(data_sample.img_shape)} crop, '
          f'{len(voxels["coors"])} voxels, image batch {tuple(batch["inputs"]["imgs"].shape)}')
    img = np.ascontiguousarray(sample['inputs']['img'].permute(1, 2, 0).numpy())  # the crop, as packed (RGB)
    labels = data_sample.gt_pts_seg.pts_semantic_mask.numpy()[data_sample.point2img_index.numpy()]
    palette = np.array(dataset.metainfo['palette'] + [[128, 128, 128]], dtype=np.uint8)
    overlay = draw_points_on_image(img, data_sample.img_indices.numpy(), palette[labels], radius=2)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    cv2.imwrite(out, np.concatenate([img, overlay], axis=0)[:, :, ::-1])
    print(f'saved {out} (top: cropped camera image; bottom: its LiDAR points coloured by class)')


def train_and_test(config: str, data_root: str, work_dir: str, cfg_options: dict = None) -> dict:
    """Train ``config`` on the synthetic data, then test its final weights; returns the test metrics."""
    cfg = Config.fromfile(config)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = data_root
    cfg.work_dir = work_dir
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner.test()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--config', default=os.path.join(REPO, 'configs/elite_demo.py'),
                        help='model config trained and tested on the synthetic data')
    parser.add_argument('--camera-config', default=os.path.join(REPO, 'configs/_base_/datasets/synthetic_kitti_mm.py'),
                        help='camera+LiDAR dataset config whose training sample is drawn')
    parser.add_argument('--preprocessor', default=os.path.join(
        REPO, 'configs/_base_/models/point_image_data_preprocessor.py'))
    parser.add_argument('--data-root', default=os.path.join(REPO, 'data/synthetic_kitti'))
    parser.add_argument('--work-dir', default=os.path.join(REPO, 'work_dirs/demo'))
    parser.add_argument('--frames', type=int, default=8, help='frames per synthetic sequence')
    parser.add_argument('--points', type=int, default=20000, help='points per synthetic scan')
    parser.add_argument('--no-train', action='store_true', help='only make the data and the picture')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    args = parser.parse_args(argv)

    ensure_synthetic_dataset(args.data_root, frames=args.frames, num_points=args.points, log=print)
    save_sample_overlay(args.camera_config, args.preprocessor, args.data_root,
                        os.path.join(args.work_dir, 'points_on_image.png'))
    if args.no_train:
        return 0
    metrics = train_and_test(args.config, args.data_root, args.work_dir, args.cfg_options)
    all_points = (f", all points {metrics['miou_all_points']:.4f}" if 'miou_all_points' in metrics else '')
    print(f"synthetic validation sequence 08: mIoU {metrics['miou']:.4f} (in-range points, the reference "
          f"protocol{all_points}; accuracy {metrics['acc']:.4f}); logs and checkpoints in {args.work_dir}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
