"""BEV drawing on constructed points, and tools/visualize.py end to end on the synthetic dataset."""
import os

import cv2
import numpy as np
from elite_deploy.bev import IGNORE_COLOR, TITLE_HEIGHT, draw_bev, side_by_side
from tools_loader import load_tool

from elite.datasets.kitti_files import count_points, read_label, read_scan
from elite.datasets.semantickitti_labels import IGNORE_INDEX, PALETTE, raw_to_train, train_to_raw

PALETTE_3 = [[255, 0, 0], [0, 255, 0], [0, 0, 255]]
POLE = 17


def test_points_land_on_their_pixels_with_their_colours():
    points = np.array([[10.05, -3.05, 0.0],   # 10 m ahead, 3 m right -> above and right of the centre
                       [0.05, 0.05, 0.0],     # ignored label -> grey, just up-left of the centre
                       [-20.05, 7.05, 0.5],   # two points in one pixel: the higher one shows
                       [-20.05, 7.05, 1.5],
                       [60.0, 0.0, 0.0]])     # beyond the extent -> not drawn
    labels = np.array([1, IGNORE_INDEX, 0, 2, 0])
    bev = draw_bev(points, labels, PALETTE_3, extent=50.0, resolution=0.1)
    assert bev.shape == (1000, 1000, 3) and bev.dtype == np.uint8
    expected = {(399, 530): PALETTE_3[1], (499, 499): IGNORE_COLOR, (700, 429): PALETTE_3[2]}
    for (row, col), color in expected.items():
        assert bev[row, col].tolist() == list(color)
    assert np.count_nonzero(bev.any(axis=2)) == len(expected)  # everything else is black background


def test_side_by_side_titles_and_pads():
    out = side_by_side([np.full((100, 60, 3), 50, np.uint8), np.full((80, 40, 3), 90, np.uint8)],
                       ['prediction', 'ground truth'], gap=8)
    assert out.shape == (TITLE_HEIGHT + 100, 60 + 8 + 40, 3)
    assert out[:TITLE_HEIGHT].max() == 255  # white title text
    assert (out[TITLE_HEIGHT + 80:, 68:] == 0).all()  # the shorter panel is padded black


def write_predictions(pred_dir: str, seq: str, frame: str, train_ids: np.ndarray) -> None:
    folder = os.path.join(pred_dir, 'sequences', seq, 'predictions')
    os.makedirs(folder, exist_ok=True)
    train_to_raw(train_ids).tofile(os.path.join(folder, f'{frame}.label'))


def test_cli_draws_predictions_figure(synthetic_root, tmp_path, capsys):
    visualize = load_tool('visualize')
    pred_dir = str(tmp_path / 'submission')
    seq_08, seq_11 = (os.path.join(synthetic_root, 'sequences', seq) for seq in ('08', '11'))
    scan = read_scan(os.path.join(seq_08, 'velodyne', '000000.bin'))
    gt = raw_to_train(read_label(os.path.join(seq_08, 'labels', '000000.label'), len(scan))[0])
    write_predictions(pred_dir, '08', '000000', np.where(scan[:, 1] > 0, POLE, gt))  # all "pole" on the left
    num_points = count_points(os.path.join(seq_11, 'velodyne', '000000.bin'))
    write_predictions(pred_dir, '11', '000000', np.arange(num_points) % 19)

    panel, gap = 200, 8  # 2 * 20 m / 0.2 m
    width = 2 * panel + gap
    height = TITLE_HEIGHT + panel + TITLE_HEIGHT + round(376 * width / 1241)  # synthetic images are 1241 x 376
    for seq in ('08', '11'):
        out = str(tmp_path / f'{seq}.png')
        assert visualize.main(['predictions', '--root', synthetic_root, '--pred-dir', pred_dir, '--sequence', seq,
                               '--frame', '0', '--out', out, '--extent', '20', '--resolution', '0.2']) == 0
        figure = cv2.imread(out)[:, :, ::-1]
        assert figure.shape == (height, width, 3)
        pred_bev = figure[TITLE_HEIGHT:TITLE_HEIGHT + panel, :panel]
        gt_bev = figure[TITLE_HEIGHT:TITLE_HEIGHT + panel, panel + gap:]
        assert np.count_nonzero(pred_bev.any(axis=2)) > 500
        if seq == '08':  # the same picture on the right (y < 0); the prediction is all pole colour on the left
            differs = (pred_bev != gt_bev).any(axis=2)
            assert differs[:, :panel // 2].any() and not differs[:, panel // 2:].any()
            assert (pred_bev[differs] == PALETTE[POLE]).all()
        else:
            assert not gt_bev.any()  # unlabelled scan: empty ground-truth panel
    assert 'saved' in capsys.readouterr().out

    assert visualize.main(['predictions', '--root', synthetic_root, '--pred-dir', pred_dir, '--sequence', '08',
                           '--frame', '1', '--out', str(tmp_path / 'missing.png')]) == 1
    assert os.path.join('sequences', '08', 'predictions', '000001.label') in capsys.readouterr().err


def test_pseudo_label_view(synthetic_root, tmp_path):
    import cv2
    import numpy as np
    from tools_loader import load_tool

    from elite.pseudo_labels.writer import pseudo_label_paths, write_label_png
    root = str(tmp_path / 'kitti')
    import shutil
    shutil.copytree(os.path.join(synthetic_root, 'sequences'), os.path.join(root, 'sequences'))
    dense = np.full((376, 1241), 9, np.uint16)  # all road (learning_map id 9 = mmdet3d class 8 + 1)
    dense[:100] = 0  # unlabelled sky
    write_label_png(pseudo_label_paths(root, '08', '000000')[0], dense)
    out = str(tmp_path / 'pseudo.png')
    assert load_tool('visualize').main(['pseudo-labels', '--root', root, '--sequence', '08', '--frame', '0',
                                        '--out', out]) == 0
    figure = cv2.imread(out)[:, :, ::-1]
    assert figure.shape[1] == 1241 and figure.shape[0] > 3 * 376
    bottom = figure[-376:]
    assert (bottom[:100] == 0).all() and (bottom[200:] == [255, 0, 255]).all()  # road's palette colour
