"""tools/infer.py: a checkpoint labels scans of any format; the labels are the student's argmax as raw ids; a bad
file stops the run naming it, or is skipped and reported."""
import os

import numpy as np
import torch
from mmdet3d.registry import MODELS
from mmdet3d.structures import Det3DDataSample
from mmengine.config import Config
from mmengine.runner.checkpoint import get_state_dict, save_checkpoint, weights_to_cpu
from pypcd4 import PointCloud
from tools_loader import load_tool

from elite.datasets.semantickitti_labels import LEARNING_MAP_INV, train_to_raw
from elite.datasets.synthetic import lidar_scan, make_scene

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(REPO, 'configs/spvcnnlite_semantickitti.py')


def test_infer_writes_the_students_labels_for_every_format(tmp_path, capsys):
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(CONFIG).model).eval()
    checkpoint = str(tmp_path / 'student.pth')
    save_checkpoint(dict(state_dict=weights_to_cpu(get_state_dict(model)), meta={}), checkpoint)
    rng = np.random.default_rng(0)
    scene = make_scene(rng, 80.0)
    scans = {name: lidar_scan(scene, x, 3000, rng)[0] for name, x in (('a', 10.0), ('b', 20.0), ('c', 30.0))}
    folder = tmp_path / 'scans'
    folder.mkdir()
    scans['a'].tofile(folder / 'a.bin')
    PointCloud.from_xyzi_points(scans['b']).save(str(folder / 'b.pcd'))
    np.save(folder / 'c.npy', scans['c'][:, :3])  # no intensity: zeros
    out = str(tmp_path / 'out')
    infer = load_tool('infer')
    assert infer.main([checkpoint, str(folder), '--config', CONFIG, '--out-dir', out, '--save-classes', '--show',
                       '--no-progress']) == 0
    assert '3 scan(s) labelled, 1 without intensity (zeros used)' in capsys.readouterr().out
    for name, points in scans.items():
        if name == 'c':
            points = np.concatenate([points[:, :3], np.zeros((len(points), 1), np.float32)], 1)
        data = model.data_preprocessor(dict(inputs=dict(points=[torch.from_numpy(points)]),
                                            data_samples=[Det3DDataSample()]))
        with torch.no_grad():
            expected = model.decode_head(model.extract_feat(data['inputs'])).argmax(1).numpy()
        labels = np.fromfile(os.path.join(out, f'{name}.label'), dtype=np.uint32)
        np.testing.assert_array_equal(labels, train_to_raw(expected))
        assert set(np.unique(labels)) <= set(LEARNING_MAP_INV.values())
        np.testing.assert_array_equal(np.load(os.path.join(out, f'{name}.npy')), expected)
        assert os.path.getsize(os.path.join(out, f'{name}.png')) > 1000

    # a bad file: the run stops naming it (exit 1), or with --on-error skip the others are written (exit 0)
    np.save(folder / 'd.npy', np.zeros((0, 4), np.float32))
    assert infer.main([checkpoint, str(folder), '--config', CONFIG, '--out-dir', out, '--no-progress']) == 1
    assert f'{folder / "d.npy"}: holds no points' in capsys.readouterr().err
    skip_out = str(tmp_path / 'skip')
    assert infer.main([checkpoint, str(folder), '--config', CONFIG, '--out-dir', skip_out, '--on-error', 'skip',
                       '--no-progress']) == 0
    out_text = capsys.readouterr().out
    assert 'skipped: ' in out_text and 'd.npy' in out_text and '3 scan(s) labelled' in out_text
    assert sorted(os.listdir(skip_out)) == ['a.label', 'b.label', 'c.label']


def test_mmdet3d_inferencer_on_the_plugins_config(tmp_path):
    """mmdet3d's own LidarSeg3DInferencer refuses our configs (their loaders are the checked subclasses); the
    plugin's subclass, registered as 'elite-seg3d-lidar', labels a .bin scan as the student does."""
    import pytest
    from mmdet3d.apis import LidarSeg3DInferencer

    from elite.engine import ELiTeLidarSeg3DInferencer
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(CONFIG).model).eval()
    checkpoint = str(tmp_path / 'student.pth')
    save_checkpoint(dict(state_dict=weights_to_cpu(get_state_dict(model)), meta={}), checkpoint)
    points = lidar_scan(make_scene(np.random.default_rng(1), 60.0), 10.0, 2000, np.random.default_rng(1))[0]
    points.tofile(tmp_path / 'scan.bin')
    with pytest.raises(ValueError, match='LoadPointsFromFile is not found'):
        LidarSeg3DInferencer(model=CONFIG, weights=checkpoint, device='cpu')
    inferencer = ELiTeLidarSeg3DInferencer(model=CONFIG, weights=checkpoint, device='cpu')
    result = inferencer(dict(points=str(tmp_path / 'scan.bin')), no_save_vis=True)
    data = model.data_preprocessor(dict(inputs=dict(points=[torch.from_numpy(points)]),
                                        data_samples=[Det3DDataSample()]))
    with torch.no_grad():
        expected = model.decode_head(model.extract_feat(data['inputs'])).argmax(1).numpy()
    np.testing.assert_array_equal(np.asarray(result['predictions'][0]['pts_semantic_mask']), expected)
