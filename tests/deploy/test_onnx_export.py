"""The exported student: the numpy plan is the training stack's, the ONNX graph gives the training stack's logits
on full scans, and tools/infer.py runs it in a process where mmdet3d, mmcv, spconv and torch cannot be imported."""
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch
from elite_deploy.onnx_student import ExportedModelError, OnnxStudent
from elite_deploy.student_plan import student_plan
from mmdet3d.registry import MODELS
from mmdet3d.structures import Det3DDataSample
from mmengine.config import Config
from mmengine.runner.checkpoint import get_state_dict, save_checkpoint, weights_to_cpu
from tools_loader import load_tool

from elite.datasets.semantickitti_labels import train_to_raw
from elite.datasets.synthetic import lidar_scan, make_scene
from elite.engine.student_predictor import checkpoint_predictor
from elite.models.student_graph import student_plan as training_stack_plan

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(REPO, 'configs/spvcnnlite_semantickitti.py')


@pytest.fixture(scope='module')
def student_checkpoint(tmp_path_factory) -> str:
    """A student with random weights and running statistics (so every BatchNorm does something), on spconv."""
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(CONFIG).model).eval()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            module.running_mean.uniform_(-0.3, 0.3)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
    path = str(tmp_path_factory.mktemp('student') / 'student.pth')
    save_checkpoint(dict(state_dict=weights_to_cpu(get_state_dict(model)), meta={}), path)
    return path


@pytest.fixture(scope='module')
def exported(student_checkpoint, tmp_path_factory) -> str:
    out = str(tmp_path_factory.mktemp('onnx') / 'student.onnx')
    assert load_tool('export_student').main([student_checkpoint, out, '--format', 'onnx', '--config', CONFIG]) == 0
    return out


@pytest.fixture(scope='module')
def full_scans(kitti_frame_dir) -> dict:
    rng = np.random.default_rng(3)
    synthetic = lidar_scan(make_scene(rng, 120.0), 40.0, 120000, rng)[0]
    real = np.fromfile(os.path.join(kitti_frame_dir, 'sequences/00/velodyne/000000.bin'), np.float32).reshape(-1, 4)
    return dict(kitti=real, synthetic=synthetic)


def test_the_numpy_plan_is_the_training_stacks_plan(exported, full_scans):
    """Every array the graph takes, computed by elite_deploy (numpy) and by the model's own code: equal, same
    dtype, same order."""
    model = MODELS.build(Config.fromfile(CONFIG).model)
    grid = OnnxStudent(exported).meta['grid']
    for points in full_scans.values():
        voxels = model.data_preprocessor(dict(inputs=dict(points=[torch.from_numpy(points)]),
                                              data_samples=[Det3DDataSample()]))['inputs']['voxels']
        expected = training_stack_plan(model.backbone, voxels)
        plan = student_plan(points, grid)
        assert sorted(plan) == sorted(expected) and len(plan) == 5 + 4 * (7 + 2 * 26)
        for name, value in expected.items():
            assert plan[name].dtype == value.numpy().dtype, name
            np.testing.assert_array_equal(plan[name], value.numpy(), err_msg=name)


def test_the_exported_student_gives_the_training_stacks_logits_on_full_scans(student_checkpoint, exported,
                                                                             full_scans):
    """onnxruntime on the exported file vs the checkpoint run by the training stack (spconv), as tools/infer.py
    runs each: logits within 1e-3 of their scale and argmax agreement >= 99.9 % on the real KITTI frame and a
    120,000-point synthetic scan."""
    onnx_student, torch_student = OnnxStudent(exported), checkpoint_predictor(CONFIG, student_checkpoint)
    for name, points in full_scans.items():
        got, expected = onnx_student(points), torch_student(points)
        assert got.shape == expected.shape == (len(points), 19)
        scale = np.abs(expected).max()
        assert np.abs(got - expected).max() <= 1e-3 * scale, name
        assert (got.argmax(1) == expected.argmax(1)).mean() >= 0.999, name


def test_the_exported_file_carries_the_grid_and_label_tables(exported):
    student = OnnxStudent(exported)
    assert student.meta['grid']['spatial_shape'] == [1000, 1000, 60]
    assert student.meta['grid']['scales'] == [2, 4, 8, 16]
    classes = np.arange(19)
    np.testing.assert_array_equal(student.to_raw(classes), train_to_raw(classes))
    ops = {node.op_type for node in onnx.load(exported).graph.node}
    assert 'ScatterND' in ops and not ops & {'ScatterElements', 'Loop', 'If'}


def test_infer_runs_an_exported_student_without_the_training_stack(student_checkpoint, exported, tmp_path):
    """tools/infer.py model.onnx in a fresh process where importing mmdet3d, mmcv, spconv, torchsparse or torch
    fails: the labels are the training stack's prediction (raw ids)."""
    rng = np.random.default_rng(5)
    points = lidar_scan(make_scene(rng, 60.0), 20.0, 8000, rng)[0]
    scans = tmp_path / 'scans'
    scans.mkdir()
    points.tofile(scans / 'scan.bin')
    blocker = ("import sys\n"
               "class Blocked:\n"
               "    def find_spec(self, name, path=None, target=None):\n"
               "        if name.split('.')[0] in ('mmdet3d', 'mmcv', 'mmdet', 'mmengine', 'spconv', 'torchsparse',\n"
               "                                  'torch', 'elite'):\n"
               "            raise ImportError(f'{name} is blocked in this test')\n"
               "sys.meta_path.insert(0, Blocked())\n"
               "sys.argv = sys.argv[1:]\n"
               f"sys.path.insert(0, {os.path.join(REPO, 'tools')!r})\n"
               "import runpy\n"
               "runpy.run_path(sys.argv[0], run_name='__main__')\n")
    out = tmp_path / 'labels'
    result = subprocess.run([sys.executable, '-c', blocker, os.path.join(REPO, 'tools/infer.py'), exported,
                             str(scans), '--out-dir', str(out), '--show', '--no-progress'],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert '1 scan(s) labelled' in result.stdout
    labels = np.fromfile(out / 'scan.label', dtype=np.uint32)
    expected = train_to_raw(checkpoint_predictor(CONFIG, student_checkpoint)(points).argmax(1))
    assert (labels == expected).mean() >= 0.999
    assert os.path.getsize(out / 'scan.png') > 1000


def test_a_file_that_is_not_an_exported_student_is_refused_by_name(tmp_path):
    graph = onnx.helper.make_graph([onnx.helper.make_node('Identity', ['x'], ['y'])], 'g',
                                   [onnx.helper.make_tensor_value_info('x', onnx.TensorProto.FLOAT, [1])],
                                   [onnx.helper.make_tensor_value_info('y', onnx.TensorProto.FLOAT, [1])])
    other = str(tmp_path / 'other.onnx')
    onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid('', 18)]), other)
    with pytest.raises(ExportedModelError, match=f'{other}: an ONNX model without ELiTe metadata'):
        OnnxStudent(other)
    (tmp_path / 'broken.onnx').write_bytes(b'not a model')
    with pytest.raises(ExportedModelError, match='broken.onnx: not a readable ONNX model.*export_student.py'):
        OnnxStudent(str(tmp_path / 'broken.onnx'))


def test_export_refuses_a_student_it_does_not_cover(tmp_path, capsys):
    config = os.path.join(REPO, 'configs/elite_minkunet_semantickitti.py')  # ELiTe with a MinkUNet student
    assert load_tool('export_student').main(['missing.pth', str(tmp_path / 'm.onnx'), '--format', 'onnx',
                                             '--config', config]) == 1
    assert 'ONNX export covers the SPVCNNLite student, not MinkUNet' in capsys.readouterr().err


def test_benchmark_counts_the_students_multiply_adds_from_its_kernel_pairs(student_checkpoint, exported,
                                                                          full_scans):
    """tools/benchmark.py latency --deployed: the convolutions' multiply-adds are those of the active kernel pairs,
    4 convolutions per stage, (centre + non-centre pairs) x 64 x 64 each, computed here from the plan."""
    from elite.benchmark.deployed import student_multiply_adds
    from elite.engine.student_predictor import load_student_model
    model = load_student_model(CONFIG, student_checkpoint, sparse_backend='kernel_map')
    points = full_scans['kitti']
    plan = student_plan(points, OnnxStudent(exported).meta['grid'])
    voxels = [len(plan['coors'])] + [len(plan[f'stage{i}.out_coors']) for i in range(3)]
    pairs = [sum(len(plan[f'stage{i}.kmap{j}.in']) for j in range(26)) for i in range(4)]
    expected_conv = sum(4 * (v + p) * 64 * 64 for v, p in zip(voxels, pairs))
    counted = student_multiply_adds(model, points)
    assert counted['conv_multiply_adds'] == expected_conv
    assert counted['multiply_adds'] == counted['conv_multiply_adds'] + counted['point_layer_multiply_adds']
    assert counted['point_layer_multiply_adds'] > len(points) * 10 * 64  # the point MLP's first layer at least
