"""SAMPseudoLabel: dense image labels cropped, flipped and padded exactly like the image."""
import os

import cv2
import numpy as np
import pytest
import torch
from mmdet3d.registry import DATASETS, MODELS
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from synthetic_pseudo_labels import colour_to_raw, pseudo_labelled_copy

from elite.datasets.kitti_files import image_path
from elite.datasets.pseudo_label_files import pseudo_label_paths
from elite.datasets.semantickitti_labels import LABELS_MAP, learning_to_train
from elite.datasets.transforms import SAMPseudoLabel

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope='module')
def pseudo_root(synthetic_root, tmp_path_factory):
    return pseudo_labelled_copy(synthetic_root, str(tmp_path_factory.mktemp('pseudo')))


def train_ids(path: str) -> np.ndarray:
    return learning_to_train(cv2.imread(path, cv2.IMREAD_UNCHANGED))


def camera_dataset(root, with_jitter=False):
    cfg = Config.fromfile(os.path.join(REPO, 'configs/_base_/datasets/synthetic_kitti_mm.py'))
    pipeline = [t for t in cfg.train_pipeline if with_jitter or t['type'] != 'ImageColorJitter']
    at = [t['type'] for t in pipeline].index('LoadCameraImage') + 1
    pipeline.insert(at, dict(type='SAMPseudoLabel'))
    return DATASETS.build(dict(cfg.train_dataloader.dataset, data_root=root, pipeline=pipeline))


def test_pseudo_labels_follow_the_image_pixel_for_pixel(pseudo_root):
    dataset = camera_dataset(pseudo_root)
    mapping = np.full(260, 19)
    for raw, train_id in LABELS_MAP.items():
        mapping[raw] = train_id
    flips = set()
    for seed in range(6):
        np.random.seed(seed)
        torch.manual_seed(seed)
        sample = dataset[seed % 2]['data_samples']
        img_hw = sample.metainfo['img_shape']
        flips.add(sample.metainfo['img_flip'])
        label = sample.img_seg_label.numpy()
        assert label.shape == tuple(img_hw)  # the crop's pixels, no padding
    assert flips == {True, False}
    # compare with the image of the same draw
    for seed in range(4):
        np.random.seed(seed)
        torch.manual_seed(seed)
        out = dataset[0]
        img_hw = out['data_samples'].metainfo['img_shape']
        img = out['inputs']['img'].permute(1, 2, 0).numpy()
        expected = mapping[colour_to_raw(img)]
        np.testing.assert_array_equal(out['data_samples'].img_seg_label.numpy(), expected)


def frame_results(root, seq, frame, shape, img_path='/camera/elsewhere/any_name.png'):
    """What the dataset gives SAMPseudoLabel: the identity from the infos; the image path says nothing."""
    return dict(img_path=img_path, img=np.zeros(tuple(shape) + (3,), np.uint8), sequence=seq, frame_id=frame,
                data_root=root, sample_idx=3)


def test_the_frame_comes_from_the_infos_not_the_image_path(pseudo_root):
    """An image outside ``sequences/XX/image_2`` (or named otherwise) still gets its frame's pseudo-label."""
    path = pseudo_label_paths(pseudo_root, '08', '000001')[0]
    expected = train_ids(path)
    label = SAMPseudoLabel()(frame_results(pseudo_root, '08', '000001', expected.shape))['img_seg_label']
    np.testing.assert_array_equal(label, expected)
    assert not np.array_equal(label, train_ids(pseudo_label_paths(pseudo_root, '08', '000000')[0]))


def test_missing_identity_names_the_sample_and_the_fix(pseudo_root):
    standard = image_path(pseudo_root, '08', '000001')  # a path in the dataset layout is not read back
    results = frame_results(pseudo_root, '08', '000001', (376, 1241), img_path=standard)
    for key, fix in [('frame_id', 'tools/create_data.py semantickitti'), ('sequence', 'tools/create_data.py'),
                     ('data_root', 'SemanticKittiMMDataset')]:
        with pytest.raises(KeyError, match=fix) as err:
            SAMPseudoLabel()({k: v for k, v in results.items() if k != key})
        assert 'sample 3' in str(err.value) and key in str(err.value)


def test_raw_id_pseudo_labels_of_older_versions_are_refused(pseudo_root, tmp_path):
    label_path = pseudo_label_paths(pseudo_root, '00', '000000')[0]
    learning = cv2.imread(label_path, cv2.IMREAD_UNCHANGED)
    try:
        cv2.imwrite(label_path, np.full_like(learning, 40))  # raw 'road'
        with pytest.raises(ValueError, match='generate the pseudo-labels again') as err:
            SAMPseudoLabel()(frame_results(pseudo_root, '00', '000000', learning.shape))
        assert label_path in str(err.value)
    finally:
        cv2.imwrite(label_path, learning)


def test_missing_pseudo_label_names_the_file(synthetic_root):
    dataset = camera_dataset(synthetic_root)
    with pytest.raises(FileNotFoundError, match='generate_pseudo_labels.py') as err:
        dataset[0]
    assert os.path.join('image_2_pseudo', 'semantic', '000000.png') in str(err.value)


def test_distiller_uses_every_labelled_pixel(pseudo_root):
    cfg = Config.fromfile(os.path.join(REPO, 'configs/elite_demo.py'))
    model = MODELS.build(cfg.model).train()
    np.random.seed(0)
    batch = model.data_preprocessor(pseudo_collate([camera_dataset(pseudo_root)[0]]), training=True)
    sample = batch['data_samples'][0]
    img_hw = tuple(sample.img_shape)
    pixels, labels = model.labelled_pixels(batch['data_samples'], img_hw)
    labelled = (sample.img_seg_label != 19).sum()
    assert len(labels) == len(pixels) == labelled > 20 * len(sample.point2img_index)
    rows, cols = pixels.pixels[:, 1], pixels.pixels[:, 2]
    assert torch.equal(sample.img_seg_label[rows, cols], labels) and (pixels.pixels[:, 0] == 0).all()
    losses = model(**batch, mode='loss')
    assert all(torch.isfinite(v) for v in losses.values())
    model.max_dense_pixels = 100
    assert len(model.labelled_pixels(batch['data_samples'], img_hw)[1]) == 100
