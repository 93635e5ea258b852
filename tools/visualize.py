"""Headless pictures (PNG) of SemanticKITTI predictions.

    python tools/visualize.py predictions --root DATA_ROOT --pred-dir SUBMISSION_DIR \
        --sequence 08 --frame 000000 --out out.png [--extent 50] [--resolution 0.1]
        top: bird's-eye view of the predictions | the ground truth (if the scan is labelled);
        bottom: the predictions projected onto the camera-2 image. SUBMISSION_DIR is the submission_dir
        given to SemanticKittiMetric.
    python tools/visualize.py pseudo-labels --root DATA_ROOT --sequence 08 --frame 000000 --out out.png
        the camera image, its sparse projected LiDAR labels and its dense SAM pseudo-labels, stacked.
"""
import argparse
import os
import sys

import cv2
import numpy as np
from elite_deploy.bev import add_title, draw_bev, label_colors, side_by_side

from elite.datasets.kitti_files import KittiFormatError, lidar2img_from_calib, read_calib, read_label, read_scan
from elite.datasets.semantickitti_labels import PALETTE, learning_to_train, raw_to_train
from elite.datasets.transforms import project_to_image
from elite.evaluation.semantickitti_metric import prediction_path, read_prediction
from elite.pseudo_labels.writer import load_frame, pseudo_label_paths, read_label_png
from elite.visualization import draw_points_on_image


def read_rgb(path: str) -> np.ndarray:
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f'{path}: camera image missing or unreadable. Extract the KITTI odometry colour '
                                'archive (image_2) over the dataset root.')
    return np.ascontiguousarray(img[:, :, ::-1])


def predictions_figure(root: str, pred_dir: str, sequence: str, frame: str, extent: float,
                       resolution: float) -> np.ndarray:
    """The RGB figure: BEV prediction | ground truth above the camera image with the predictions."""
    seq_dir = os.path.join(root, 'sequences', sequence)
    scan = read_scan(os.path.join(seq_dir, 'velodyne', f'{frame}.bin'))
    pred_path = prediction_path(pred_dir, sequence, frame)
    pred = raw_to_train(read_prediction(pred_path, len(scan)), source=pred_path)
    label_path = os.path.join(seq_dir, 'labels', f'{frame}.label')
    size = int(round(2 * extent / resolution))
    if os.path.isfile(label_path):
        gt = raw_to_train(read_label(label_path, len(scan))[0], source=label_path)
        gt_bev, gt_title = draw_bev(scan[:, :3], gt, PALETTE, extent, resolution), 'ground truth'
    else:
        gt_bev, gt_title = np.zeros((size, size, 3), dtype=np.uint8), 'ground truth: none (unlabelled scan)'
    top = side_by_side([draw_bev(scan[:, :3], pred, PALETTE, extent, resolution), gt_bev],
                       [f'prediction {sequence}/{frame}', gt_title])

    img = read_rgb(os.path.join(seq_dir, 'image_2', f'{frame}.png'))
    lidar2img = lidar2img_from_calib(read_calib(os.path.join(seq_dir, 'calib.txt')))
    point2img_index, img_indices = project_to_image(scan[:, :3], lidar2img, img.shape[:2])
    overlay = draw_points_on_image(img, img_indices, label_colors(pred[point2img_index], PALETTE), radius=2)
    height = int(round(overlay.shape[0] * top.shape[1] / overlay.shape[1]))
    overlay = cv2.resize(overlay, (top.shape[1], height), interpolation=cv2.INTER_NEAREST)
    return np.concatenate([top, add_title(overlay, 'prediction on camera 2')], axis=0)


def label_image(learning: np.ndarray, source: str) -> np.ndarray:
    """(H, W) learning_map ids (SAM-PLG's) -> RGB in the SemanticKITTI palette; unlabelled (0) pixels black."""
    train = learning_to_train(learning, source=source)
    img = label_colors(train.ravel(), PALETTE).reshape(*learning.shape, 3)
    img[learning == 0] = 0
    return img


def pseudo_labels_figure(root: str, sequence: str, frame: str) -> np.ndarray:
    """The RGB figure: the camera image, its sparse projected LiDAR labels and its dense SAM pseudo-labels."""
    seq_dir = os.path.join(root, 'sequences', sequence)
    lidar2img = lidar2img_from_calib(read_calib(os.path.join(seq_dir, 'calib.txt')))
    img, sparse, _, _ = load_frame(root, sequence, frame, lidar2img)
    dense_path = pseudo_label_paths(root, sequence, frame)[0]
    dense = read_label_png(dense_path)
    # the sparse labels are single pixels: thicken them so they can be seen
    sparse_rgb = cv2.dilate(label_image(sparse, os.path.join(seq_dir, 'labels')), np.ones((3, 3), np.uint8))
    panels = [(img, f'camera 2 {sequence}/{frame}'), (sparse_rgb, 'sparse projected LiDAR labels'),
              (label_image(dense, dense_path), 'SAM pseudo-labels')]
    return np.concatenate([add_title(panel, title) for panel, title in panels], axis=0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='command', required=True)
    pred = sub.add_parser('predictions', help='BEV prediction vs ground truth, and predictions on the camera image')
    pred.add_argument('--root', required=True, help='dataset root holding sequences/')
    pred.add_argument('--pred-dir', required=True, help='submission folder holding sequences/XX/predictions/')
    pred.add_argument('--sequence', required=True, help='e.g. 08')
    pred.add_argument('--frame', required=True, help='e.g. 000000')
    pred.add_argument('--out', required=True, help='PNG file to write')
    pred.add_argument('--extent', type=float, default=50.0, help='BEV half-width in metres')
    pred.add_argument('--resolution', type=float, default=0.1, help='BEV metres per pixel')
    pseudo = sub.add_parser('pseudo-labels', help='image, sparse projected labels and dense pseudo-labels')
    pseudo.add_argument('--root', required=True, help='dataset root holding sequences/')
    pseudo.add_argument('--sequence', required=True, help='e.g. 08')
    pseudo.add_argument('--frame', required=True, help='e.g. 000000')
    pseudo.add_argument('--out', required=True, help='PNG file to write')
    args = parser.parse_args(argv)
    if not args.out.lower().endswith('.png'):
        parser.error(f'--out {args.out}: pictures are written as PNG; give a name ending in .png')

    sequence, frame = args.sequence.zfill(2), args.frame.zfill(6)
    try:
        if args.command == 'predictions':
            figure = predictions_figure(args.root, args.pred_dir, sequence, frame, args.extent, args.resolution)
        else:
            figure = pseudo_labels_figure(args.root, sequence, frame)
    except (KittiFormatError, FileNotFoundError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    if not cv2.imwrite(args.out, figure[:, :, ::-1]):
        print(f'error: {args.out}: cannot write the PNG; check that the folder is writable', file=sys.stderr)
        return 1
    print(f'saved {args.out} ({figure.shape[1]} x {figure.shape[0]})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
