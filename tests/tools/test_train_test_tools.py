"""tools/train.py and tools/test.py end to end: train, resume, test with TTA, submission and pictures."""
import os
import re

import numpy as np
from tools_loader import load_tool

from elite.datasets.kitti_files import count_points

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(REPO, 'configs/spvcnnlite_demo.py')


def data_options(root, epochs=1):
    return [f'{loader}.dataset.data_root={root}' for loader in ('train_dataloader', 'val_dataloader',
                                                                 'test_dataloader')] + [
        f'train_cfg.max_epochs={epochs}', f'train_cfg.val_interval={epochs}',
        'default_hooks.checkpoint.interval=1']


def test_train_resume_and_test_with_tta_submission_and_pictures(synthetic_root, tmp_path, capsys):
    train, test = load_tool('train'), load_tool('test')
    work = str(tmp_path / 'work')
    assert train.main([CONFIG, '--work-dir', work, '--cfg-options', *data_options(synthetic_root, 1)]) == 0
    assert os.path.isfile(os.path.join(work, 'epoch_1.pth'))
    # resume picks up the latest checkpoint and continues at epoch 2
    assert train.main([CONFIG, '--work-dir', work, '--resume', '--cfg-options',
                       *data_options(synthetic_root, 2)]) == 0
    out = capsys.readouterr().out
    assert 'resumed epoch: 1' in out and os.path.isfile(os.path.join(work, 'epoch_2.pth'))
    assert 'Epoch(train) [1]' not in out.split('resumed epoch: 1')[1]

    submit, show = str(tmp_path / 'submit'), str(tmp_path / 'show')
    checkpoint = os.path.join(work, 'epoch_2.pth')
    assert test.main([CONFIG, checkpoint, '--work-dir', work, '--tta', '--submit', submit, '--show-dir', show,
                      '--cfg-options', *data_options(synthetic_root)]) == 0
    out = capsys.readouterr().out
    assert re.search(r'miou: \d\.\d+', out)  # the per-class table and mIoU are printed
    for frame in ('000000', '000001'):
        pred = np.fromfile(os.path.join(submit, 'sequences', '08', 'predictions', frame + '.label'), np.uint32)
        assert len(pred) == count_points(os.path.join(synthetic_root, 'sequences', '08', 'velodyne', frame + '.bin'))
    assert sorted(os.listdir(show)) == ['08_000000.png', '08_000001.png']

    # the unlabelled test split: label loading is dropped, only submission files are written
    assert test.main([CONFIG, checkpoint, '--work-dir', work, '--submit', submit, '--cfg-options',
                      *data_options(synthetic_root),
                      'test_dataloader.dataset.ann_file=semantickitti_infos_test.pkl']) == 0
    assert sorted(os.listdir(os.path.join(submit, 'sequences', '11', 'predictions'))) == ['000000.label',
                                                                                         '000001.label']


def test_tta_schemes_by_name(synthetic_root):
    """--tta is the reference scheme (12 seeded views, logits summed); --tta views16 the 16 fixed views, softmax
    averaged; an unknown scheme names the config's schemes."""
    import pytest
    test = load_tool('test')
    options = ['--cfg-options', *data_options(synthetic_root)]
    reference = test.build_config(test.parse_args([CONFIG, 'x.pth', '--tta', *options]))
    assert reference.model.type == 'Seg3DLogitSumTTAModel'
    assert len(reference.test_dataloader.dataset.pipeline[-1]['transforms'][0]) == 12
    views16 = test.build_config(test.parse_args([CONFIG, 'x.pth', '--tta', 'views16', *options]))
    assert views16.model.type == 'Seg3DTTAModel' and views16.model.module.type == 'PointVoxelSegmentor'
    with pytest.raises(KeyError, match=r"\['reference', 'views16'\]"):
        test.build_config(test.parse_args([CONFIG, 'x.pth', '--tta', 'views64', *options]))


def test_amp_without_cuda_says_it_needs_a_gpu(capsys):
    import pytest
    import torch
    if torch.cuda.is_available():
        pytest.skip('this machine has CUDA: --amp would train')
    assert load_tool('train').main(['configs/elite_demo.py', '--amp']) == 2
    err = capsys.readouterr().err
    assert '--amp needs a CUDA GPU' in err and 'Drop --amp' in err
