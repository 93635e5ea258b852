"""SAM-PLG: each step on hand-made inputs, the filters against segment-anything and
torchvision, and the generator and tools/generate_pseudo_labels.py end to end with a small random SAM (sam_tiny).

A random SAM hardly looks at its prompts; its mask logits are also tiny (std ~0.04), so no mask would pass the
stability filter. ``sharp_sam`` scales its mask head so that the pipeline keeps and paints masks.
"""
import os
import shutil

import cv2
import numpy as np
import pytest
import torch
from segment_anything.utils.amg import batched_mask_to_box, calculate_stability_score
from segment_anything.utils.transforms import ResizeLongestSide
from tools_loader import load_tool

from elite.datasets.kitti_files import lidar2img_from_calib, read_calib, read_scan, write_label, write_scan
from elite.datasets.synthetic import write_dataset
from elite.pseudo_labels import (
    SamCheckpointError,
    SamPseudoLabelGenerator,
    build_sam,
    label_grid,
    majority_labels,
    mask_inputs,
    paint_masks,
    point_prompts,
    pseudo_label_paths,
    read_label_png,
    sparse_label_images,
    write_label_png,
)
from elite.pseudo_labels.sam_plg import CompactMasks, box_nms, stable_masks
from elite.pseudo_labels.writer import load_frame

POINTS_PER_BATCH = 16
TOOL_ARGS = ['--model-type', 'sam_tiny', '--device', 'cpu', '--points-per-batch', str(POINTS_PER_BATCH),
             '--no-progress']


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    """Small ops on a shared 2-core machine: one thread is fast and keeps results identical between runs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def sharp_sam():
    torch.manual_seed(0)
    sam = build_sam('sam_tiny')
    with torch.no_grad():
        for mlp in sam.mask_decoder.output_hypernetworks_mlps:
            mlp.layers[-1].weight.mul_(1000.0)
            mlp.layers[-1].bias.mul_(1000.0)
    return sam


@pytest.fixture(scope='module')
def tiny_checkpoint(sharp_sam, tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp('sam') / 'sam_tiny.pth')
    torch.save(sharp_sam.state_dict(), path)
    return path


@pytest.fixture(scope='module')
def small_root(tmp_path_factory) -> str:
    """Sequence 00: 2 labelled frames of 10,000 points (about 50 prompts each) and a third frame without labels."""
    root = str(tmp_path_factory.mktemp('plg_kitti'))
    write_dataset(root, ('00',), frames=2, num_points=10000, seed=0)
    seq = os.path.join(root, 'sequences', '00')
    for folder, ext in (('velodyne', '.bin'), ('image_2', '.png')):
        shutil.copyfile(os.path.join(seq, folder, '000001' + ext), os.path.join(seq, folder, '000002' + ext))
    return root


@pytest.fixture(scope='module')
def real_root(kitti_frame_dir, tmp_path_factory) -> str:
    """The real KITTI frame with every 20th point (about 40 prompts) and labels made up from height bands: road
    below -1.4 m, cars (instance ids 256 and up, one per 10 m of x) below 0.5 m, vegetation above."""
    root = str(tmp_path_factory.mktemp('real_kitti'))
    src, dst = (os.path.join(r, 'sequences', '00') for r in (kitti_frame_dir, root))
    for folder in ('velodyne', 'labels', 'image_2'):
        os.makedirs(os.path.join(dst, folder))
    for name in ('calib.txt', 'poses.txt', os.path.join('image_2', '000000.png')):
        shutil.copyfile(os.path.join(src, name), os.path.join(dst, name))
    scan = read_scan(os.path.join(src, 'velodyne', '000000.bin'))[::20]
    z = scan[:, 2]
    semantic = np.where(z < -1.4, 40, np.where(z < 0.5, 10, 70)).astype(np.uint16)
    instance = np.where(semantic == 10, 256 + scan[:, 0] // 10, 0).astype(np.uint16)
    write_scan(os.path.join(dst, 'velodyne', '000000.bin'), scan)
    write_label(os.path.join(dst, 'labels', '000000.label'), semantic, instance)
    return root


def frame_inputs(root: str, frame: str = '000000'):
    calib = read_calib(os.path.join(root, 'sequences', '00', 'calib.txt'))
    return load_frame(root, '00', frame, lidar2img_from_calib(calib))


def generate(sam, root: str):
    """The generator's labels for frame 0 of ``root`` and its inputs; the tool must write exactly these."""
    generator = SamPseudoLabelGenerator(sam, points_per_batch=POINTS_PER_BATCH)
    inputs = frame_inputs(root)
    return generator.generate(*inputs), inputs, generator


@pytest.fixture(scope='module')
def synthetic_frame0(sharp_sam, small_root):
    return generate(sharp_sam, small_root)


@pytest.fixture(scope='module')
def real_frame0(sharp_sam, real_root):
    return generate(sharp_sam, real_root)


# ---- step 1-3: sparse labels, grid, prompts, mask inputs ---------------------------------------------------------

def test_sparse_label_images_keep_the_last_point_or_the_nearest():
    """The reference paints the points one after the other (the last in scan order wins a shared pixel);
    shared_pixel='nearest' keeps the point that occludes the others."""
    focal, cx, cy = 100.0, 50.0, 40.0  # camera looking along +x: u = cx - f y / x, v = cy - f z / x
    lidar2img = np.array([[cx, -focal, 0, 0], [cy, 0, -focal, 0], [1, 0, 0, 0], [0, 0, 0, 1]])
    xyz = np.array([[10, 0, 0], [5, 0, 0], [-5, 0, 0], [10, -2, 1]], dtype=np.float32)
    semantic = np.array([10, 40, 50, 70], dtype=np.uint16)
    instance = np.array([300, 0, 0, 0], dtype=np.uint16)
    for order, last in (([0, 1, 2, 3], (40, 0)), ([3, 2, 1, 0], (10, 300))):
        for rule, expected in (('last', last), ('nearest', (40, 0))):  # the point at 5 m hides the one at 10 m
            sem_img, inst_img, has_point = sparse_label_images(xyz[order], semantic[order], instance[order],
                                                               lidar2img, (80, 100), shared_pixel=rule)
            assert sem_img.dtype == inst_img.dtype == np.uint16 and sem_img.shape == (80, 100)
            assert (sem_img[40, 50], inst_img[40, 50]) == expected, (order, rule)
            assert sem_img[30, 70] == 70 and np.count_nonzero(sem_img) == 2
            assert has_point.tolist() == (sem_img > 0).tolist()
    # a point labelled unlabelled (0) still marks its pixel: it votes in step 6
    _, _, has_point = sparse_label_images(xyz[:1], np.zeros(1, np.uint16), instance[:1], lidar2img, (80, 100))
    assert np.argwhere(has_point).tolist() == [[40, 50]]
    with pytest.raises(ValueError, match='shared_pixel'):
        sparse_label_images(xyz, semantic, instance, lidar2img, (80, 100), shared_pixel='first')


def random_sparse_labels(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.where(rng.random((height, width)) < 0.05, rng.integers(1, 5, (height, width)), 0).astype(np.uint16)


def pixel_boxes_in_sam_frame(rows: np.ndarray, cols: np.ndarray, hw) -> np.ndarray:
    """(N, 4) x0, y0, x1, y1 of pixels in the 1024 frame, mapped with SAM's own ResizeLongestSide."""
    corners = np.stack([cols, rows, cols + 1, rows + 1], 1).astype(float)
    return ResizeLongestSide(1024).apply_boxes(corners, hw)


def test_label_grid_nearest_reads_each_cells_corner_as_the_reference_resize():
    """The reference writes the sparse labels on a max(H, W)-sided zero square and resizes it to 256 x 256 with
    cv2.INTER_NEAREST (pseudo_label_generator.py): cell i reads pixel floor(i * max(H, W) / 256) on both axes."""
    for height, width in ((100, 400), (376, 1241)):
        resized = ResizeLongestSide.get_preprocess_shape(height, width, 1024)
        semantic = random_sparse_labels(height, width)
        instance = (semantic * 7).astype(np.uint16)
        grid_sem, grid_inst = label_grid(semantic, instance, resized, downsample='nearest')
        assert grid_sem.shape == (256, 256) and grid_sem.dtype == np.uint16
        square = np.zeros((width, width), np.uint16)
        for grid, labels in ((grid_sem, semantic), (grid_inst, instance)):
            square[:height] = labels
            np.testing.assert_array_equal(grid, cv2.resize(square, (256, 256), interpolation=cv2.INTER_NEAREST))
        assert 0 < np.count_nonzero(grid_sem) < np.count_nonzero(semantic)
    # by hand, (H, W) = (100, 400): cell (10, 20) reads pixel (floor(15.625), floor(31.25)) = (15, 31)
    semantic = np.zeros((100, 400), np.uint16)
    semantic[15, 31], semantic[16, 32] = 10, 40
    grid_sem, _ = label_grid(semantic, semantic, (256, 1024), downsample='nearest')
    assert grid_sem[10, 20] == 10 and np.count_nonzero(grid_sem) == 1


def test_label_grid_keep_labelled_keeps_every_labelled_cell():
    height, width = 100, 400
    resized = ResizeLongestSide.get_preprocess_shape(height, width, 1024)
    semantic = np.zeros((height, width), np.uint16)
    instance = np.zeros_like(semantic)
    # Pixels (16, 31) and (16, 32) both lie in cell (10, 20) (x 80-84): their centres are at x 80.64 and 83.2, and
    # the second is nearer the cell's centre (x 82). Alone, (16, 31) still labels the cell.
    semantic[16, 31], semantic[16, 32], instance[16, 32] = 10, 40, 7
    semantic[0, 0], semantic[99, 399] = 50, 70
    grid_sem, grid_inst = label_grid(semantic, instance, resized, downsample='keep_labelled')
    assert grid_sem[10, 20] == 40 and grid_inst[10, 20] == 7
    assert grid_sem[0, 0] == 50 and grid_sem[63, 255] == 70
    assert np.count_nonzero(grid_sem) == 3
    semantic[16, 32] = 0
    assert label_grid(semantic, instance, resized, downsample='keep_labelled')[0][10, 20] == 10

    # Every labelled pixel's cell (found through SAM's own coordinate transform) is labelled, and only those.
    semantic = random_sparse_labels(height, width)
    rows, cols = np.nonzero(semantic)
    xy = ResizeLongestSide(1024).apply_coords(np.stack([cols + 0.5, rows + 0.5], 1), (height, width))
    expected_cells = {(int(y // 4), int(x // 4)) for x, y in xy}
    grid_sem, _ = label_grid(semantic, np.zeros_like(semantic), resized, downsample='keep_labelled')
    assert {tuple(c) for c in np.argwhere(grid_sem)} == expected_cells
    with pytest.raises(ValueError, match='downsample'):
        label_grid(semantic, semantic, resized, downsample='bilinear')


def test_point_prompts_sit_at_cell_centres():
    grid = np.zeros((256, 256), np.uint16)
    grid[0, 0] = grid[5, 7] = grid[255, 255] = 1
    cells, coords = point_prompts(grid)
    np.testing.assert_array_equal(cells, [[0, 0], [5, 7], [255, 255]])
    np.testing.assert_array_equal(coords, [[1.5, 1.5], [29.5, 21.5], [1021.5, 1021.5]])
    # SAM's prompt encoder adds 0.5 (pixel index -> pixel centre): that lands on the 4 x 4 cell's centre.
    np.testing.assert_array_equal((coords + 0.5) / 4, cells[:, ::-1] + 0.5)


def hand_made_grid():
    """car instance 300 on 2 cells, car instance 301, road (stuff) on 2 cells, vegetation."""
    sem = torch.zeros(256, 256, dtype=torch.long)
    inst = torch.zeros_like(sem)
    for (r, c), s, i in [((10, 10), 10, 300), ((10, 11), 10, 300), ((20, 20), 10, 301), ((30, 30), 40, 0),
                         ((31, 31), 40, 0), ((40, 40), 70, 0)]:
        sem[r, c], inst[r, c] = s, i
    return sem, inst


@pytest.mark.parametrize('values', [(16.0, 1.0, -16.0), (8.0, 2.0, -4.0)])
def test_mask_inputs_for_a_thing_and_a_stuff_prompt(values):
    same_instance, same_class, other_class = values
    sem, inst = hand_made_grid()
    inst[50, 50] = inst[10, 10]  # an unlabelled cell carrying the thing's id: the reference marks the id there too
    cells = torch.tensor([[10, 10], [30, 30]])
    logits = mask_inputs(sem, inst, cells, same_instance, same_class, other_class)
    assert logits.shape == (2, 1, 256, 256) and logits.dtype == torch.float32
    thing, stuff = logits[0, 0], logits[1, 0]
    expected_thing = {(10, 10): same_instance, (10, 11): same_instance, (20, 20): 0.0,
                      (30, 30): other_class, (31, 31): other_class, (40, 40): other_class, (50, 50): same_instance}
    expected_stuff = {(10, 10): other_class, (10, 11): other_class, (20, 20): other_class,
                      (30, 30): same_class, (31, 31): same_class, (40, 40): other_class}
    for grid, expected in ((thing, expected_thing), (stuff, expected_stuff)):
        for (r, c), value in expected.items():
            assert grid[r, c] == value, (r, c)
        assert torch.count_nonzero(grid) == sum(v != 0 for v in expected.values())  # 0 on unlabelled cells


# ---- steps 5-7: filters, votes, painting ---------------------------------------------------------------------

def blob_logits(hw=(40, 60)):
    """Disc-shaped mask logits ``slope * (radius - distance)``: steep ones are stable, shallow ones not; two
    near-duplicates for NMS to remove; one empty mask (stability 0 / 0)."""
    rows, cols = np.mgrid[:hw[0], :hw[1]]
    blobs = [(10, 10, 6, 5.0), (10, 11, 6, 4.0), (25, 40, 8, 0.3), (25, 40, 9, 6.0), (30, 15, 5, 3.0),
             (12, 45, 7, 0.5), (20, 30, 12, 8.0), (20, 31, 12, 7.0)]
    logits = [slope * (radius - np.hypot(rows - r, cols - c)) for r, c, radius, slope in blobs]
    logits.append(np.full(hw, -5.0))
    return torch.tensor(np.stack(logits), dtype=torch.float32)


def greedy_nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list:
    """Plain greedy NMS with torchvision's box area convention ((x1 - x0) * (y1 - y0))."""
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    kept = []
    for i in np.argsort(-scores, kind='stable'):
        overlaps = []
        for j in kept:
            w = max(0.0, min(boxes[i, 2], boxes[j, 2]) - max(boxes[i, 0], boxes[j, 0]))
            h = max(0.0, min(boxes[i, 3], boxes[j, 3]) - max(boxes[i, 1], boxes[j, 1]))
            overlaps.append(w * h / (area[i] + area[j] - w * h))
        if all(o <= iou_threshold for o in overlaps):
            kept.append(int(i))
    return kept


def test_stability_boxes_and_nms_agree_with_segment_anything_and_torchvision():
    logits = blob_logits()
    keep, masks, boxes = stable_masks(logits, mask_threshold=0.0, stability_offset=1.0, min_stability=0.9)

    high, low = (logits > 1).flatten(1).sum(1), (logits > -1).flatten(1).sum(1)
    with np.errstate(invalid='ignore'):
        expected_keep = (high.numpy() / low.numpy()) >= 0.9
    np.testing.assert_array_equal(keep.numpy(), expected_keep)
    np.testing.assert_array_equal(keep.numpy(), (calculate_stability_score(logits, 0.0, 1.0) >= 0.9).numpy())
    assert 0 < keep.sum() < len(logits) - 1  # some steep blobs kept, shallow ones and the empty mask dropped

    np.testing.assert_array_equal(masks.numpy(), (logits[keep] > 0).numpy())
    expected_boxes = [[c.min(), r.min(), c.max(), r.max()] for r, c in (np.nonzero(m) for m in masks.numpy())]
    np.testing.assert_array_equal(boxes.numpy(), expected_boxes)
    np.testing.assert_array_equal(boxes.numpy(), batched_mask_to_box(masks).numpy())

    scores = torch.linspace(0.5, 0.9, len(boxes)).flip(0)
    kept = box_nms(boxes, scores, 0.7)
    assert kept.tolist() == greedy_nms(boxes.numpy().astype(float), scores.numpy(), 0.7)
    assert 0 < len(kept) < len(boxes)  # the near-duplicates went


def test_majority_labels():
    """Votes in learning ids (here 1 car, 9 road, 15 vegetation, 6 person, 0 unlabelled points)."""
    semantic = torch.tensor([1, 1, 1, 9, 9, 15, 6, 6, 1, 0, 0])
    instance = torch.tensor([5, 6, 6, 0, 0, 0, 9, 9, 7, 0, 0])
    covered = torch.zeros(8, 11, dtype=torch.bool)
    covered[0, [0, 1, 2, 3]] = True  # car 3 : 1 road; instance 6 twice, 5 once
    covered[1, [3, 4, 5, 0]] = True  # road; instance 0 three times, 5 once
    covered[2, [0, 5]] = True  # car : vegetation tie -> the smaller id; instance 0 : 5 tie -> 0
    covered[4, [0, 1, 8, 6, 7]] = True  # car 3 : person 2; instance 9 (the person's) is the most frequent of all
    covered[5, [0, 1]] = True  # instance tie 5 : 6 -> the smaller id
    covered[6, [0, 9, 10]] = True  # unlabelled points 2 : car 1 -> won by unlabelled: not painted (reference)
    covered[7, [0, 3, 4, 5]] = True  # road wins; instance 0 wins (3 : 1): the mask keeps the pixels' instances
    labelled = [0, 1, 2, 4, 5, 7]
    # reference (amg.py): the instance vote counts every covered pixel, and 0 is not painted
    sem, inst, has_label, paint = majority_labels(covered, semantic, instance)
    assert sem[labelled].tolist() == [1, 9, 1, 1, 1, 9]
    assert inst[labelled].tolist() == [6, 0, 0, 9, 5, 0]
    assert paint[labelled].tolist() == [True, False, False, True, True, False]
    assert sem[6] == 0
    assert has_label.tolist() == [True, True, True, False, True, True, False, True]
    # within_class: the winning class's most frequent instance, always painted
    sem, inst, has_label, paint = majority_labels(covered, semantic, instance, 'within_class')
    assert inst[labelled].tolist() == [6, 0, 5, 5, 5, 0] and paint.all()


def test_paint_masks_best_iou_last_and_sparse_labels_kept():
    semantic = np.zeros((6, 8), np.uint16)
    instance = np.zeros_like(semantic)
    semantic[0, 0], semantic[5, 7], semantic[3, 3], semantic[5, 0], instance[5, 0] = 50, 40, 10, 48, 400
    masks = np.zeros((2, 6, 8), bool)
    masks[0, 0:4, 0:5] = True  # predicted IoU 0.9: vegetation
    masks[1, 2:6, 2:8] = True  # predicted IoU 0.5: car instance 300
    mask_sem, mask_inst, scores = np.array([70, 10]), np.array([0, 300]), np.array([0.9, 0.5])
    results = [paint_masks(semantic, instance, masks[order], mask_sem[order], mask_inst[order], scores[order])
               for order in ([0, 1], [1, 0])]
    compact = CompactMasks((6, 8))
    compact.extend(torch.from_numpy(masks))
    results.append(paint_masks(semantic, instance, compact, mask_sem, mask_inst, scores))
    for out_sem, out_inst, painted in results:
        assert out_sem.dtype == out_inst.dtype == np.uint16
        assert out_sem[3, 3] == 70 and out_sem[2, 4] == 70  # overlap: the better mask wins
        assert out_sem[5, 7] == 10 and out_inst[5, 7] == 300 and out_sem[0, 0] == 70
        assert out_sem[5, 0] == 48 and out_inst[5, 0] == 400  # labelled, not painted: kept
        assert out_sem[4, 0] == 0  # unlabelled, not painted
        np.testing.assert_array_equal(painted, masks.any(0))
    assert semantic[3, 3] == 10  # inputs untouched


def test_compact_masks_round_trip():
    masks = torch.rand(5, 30, 50) > 0.7
    masks[3] = False
    masks[4, 10:12, 20:25] = True
    compact = CompactMasks((30, 50))
    compact.extend(masks)
    assert len(compact) == 5
    for i in range(5):
        np.testing.assert_array_equal(compact[i], masks[i].numpy())
    np.testing.assert_array_equal(compact.take([4, 0])[0], masks[4].numpy())


def test_label_png_round_trip_keeps_ids_above_255(tmp_path):
    label = np.array([[0, 255, 256], [300, 4096, 65535]], dtype=np.uint16)
    path = str(tmp_path / 'labels' / '000000.png')
    write_label_png(path, label)
    raw = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16
    np.testing.assert_array_equal(raw, label)
    np.testing.assert_array_equal(read_label_png(path), label)
    assert os.listdir(tmp_path / 'labels') == ['000000.png']  # no temporary file left
    with pytest.raises(ValueError, match='uint16'):
        write_label_png(path, label.astype(np.int32))


# ---- end to end ---------------------------------------------------------------------------------------------

def check_labels(result, inputs) -> None:
    """16-bit labels of the image's size; labelled pixels keep their labels where no mask painted."""
    image, sparse_sem, sparse_inst, _ = inputs
    assert result.semantic.dtype == result.instance.dtype == np.uint16
    assert result.semantic.shape == result.instance.shape == image.shape[:2]
    np.testing.assert_array_equal(result.semantic[~result.painted], sparse_sem[~result.painted])
    np.testing.assert_array_equal(result.instance[~result.painted], sparse_inst[~result.painted])
    assert result.painted.any() and result.num_painted >= 1
    assert set(np.unique(result.semantic[result.painted])) <= set(np.unique(sparse_sem[sparse_sem > 0]))


def test_generator_end_to_end_on_synthetic_frame(synthetic_frame0):
    result, inputs, generator = synthetic_frame0
    image, sparse_sem, sparse_inst, _ = inputs
    grid_sem, _ = label_grid(sparse_sem, sparse_inst, ResizeLongestSide.get_preprocess_shape(*image.shape[:2], 1024))
    assert result.num_prompts == np.count_nonzero(grid_sem) > POINTS_PER_BATCH  # several batches
    assert result.num_masks == 3 * result.num_prompts
    assert result.num_masks >= result.num_stable >= result.num_after_nms >= result.num_painted
    check_labels(result, inputs)
    assert generator.encoder_runs == 1  # one image embedding for all the batches

    with pytest.raises(ValueError, match='downsample'):
        SamPseudoLabelGenerator(generator.predictor.model, downsample='bilinear')
    empty = np.zeros_like(sparse_sem)
    nothing = generator.generate(image, empty, empty)
    assert nothing.num_prompts == 0 and not nothing.semantic.any() and generator.encoder_runs == 1


def test_generator_end_to_end_on_real_frame(real_frame0, synthetic_frame0):
    result, inputs, generator = real_frame0
    check_labels(result, inputs)
    assert result.instance.max() > 255 and generator.encoder_runs == 1
    assert synthetic_frame0[2].encoder_runs == 1  # a generator counts its own runs of the shared SAM only


def frame_files(root: str, frames=('000000', '000001')) -> list:
    return [path for frame in frames for path in pseudo_label_paths(root, '00', frame)]


def test_tool_writes_skips_and_resumes(small_root, tiny_checkpoint, synthetic_frame0, tmp_path, capsys):
    tool = load_tool('generate_pseudo_labels')
    root = str(tmp_path / 'kitti')
    shutil.copytree(small_root, root)
    argv = ['--root', root, '--checkpoint', tiny_checkpoint] + TOOL_ARGS

    assert tool.main(argv) == 0
    out = capsys.readouterr().out
    assert '2 frames written, 0 already done, 1 without labels skipped' in out and '2 image-encoder runs' in out
    assert not os.path.exists(pseudo_label_paths(root, '00', '000002')[0])
    image = cv2.imread(os.path.join(root, 'sequences', '00', 'image_2', '000000.png'))
    for path in frame_files(root):
        label = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        assert label.dtype == np.uint16 and label.shape == image.shape[:2]
    result = synthetic_frame0[0]
    semantic_path, instance_path = pseudo_label_paths(root, '00', '000000')
    np.testing.assert_array_equal(read_label_png(semantic_path), result.semantic)
    np.testing.assert_array_equal(read_label_png(instance_path), result.instance)

    mtimes = {path: os.stat(path).st_mtime_ns for path in frame_files(root)}
    assert tool.main(argv) == 0  # all done: nothing rewritten, SAM not even loaded
    assert '0 frames written, 2 already done' in capsys.readouterr().out
    assert {path: os.stat(path).st_mtime_ns for path in frame_files(root)} == mtimes

    os.remove(pseudo_label_paths(root, '00', '000001')[1])  # as if killed between the frame's two files
    assert tool.main(argv) == 0
    assert '1 frames written, 1 already done' in capsys.readouterr().out
    assert all(os.stat(p).st_mtime_ns == mtimes[p] for p in frame_files(root, ['000000']))
    assert all(os.path.isfile(p) for p in frame_files(root))


def test_tool_on_real_frame(real_root, tiny_checkpoint, real_frame0, capsys):
    tool = load_tool('generate_pseudo_labels')
    assert tool.main(['--root', real_root, '--checkpoint', tiny_checkpoint] + TOOL_ARGS) == 0
    assert '1 frames written' in capsys.readouterr().out
    semantic_path, instance_path = pseudo_label_paths(real_root, '00', '000000')
    result = real_frame0[0]
    np.testing.assert_array_equal(read_label_png(semantic_path), result.semantic)
    np.testing.assert_array_equal(read_label_png(instance_path), result.instance)  # ids above 255 included


def test_tool_missing_checkpoint_or_wrong_model_type(small_root, tiny_checkpoint, tmp_path, capsys):
    tool = load_tool('generate_pseudo_labels')
    missing = str(tmp_path / 'sam_vit_h_4b8939.pth')
    assert tool.main(['--root', small_root, '--checkpoint', missing, '--device', 'cpu', '--no-progress']) == 1
    err = capsys.readouterr().err
    assert missing in err and 'not found' in err and 'vit_h' in err

    argv = ['--root', small_root, '--checkpoint', tiny_checkpoint, '--model-type', 'vit_b', '--device', 'cpu']
    assert tool.main(argv) == 1
    err = capsys.readouterr().err
    assert tiny_checkpoint in err and 'not a SAM vit_b checkpoint' in err and 'sam_vit_b_01ec64.pth' in err
    assert 'looks like sam_tiny' in err
    assert not os.path.exists(os.path.join(small_root, 'sequences', '00', 'image_2_pseudo'))


def test_build_sam_rejects_unreadable_and_mis_shaped_checkpoints(sharp_sam, tmp_path):
    garbage = tmp_path / 'garbage.pth'
    garbage.write_bytes(b'not a checkpoint')
    with pytest.raises(SamCheckpointError, match='cannot be read'):
        build_sam('sam_tiny', str(garbage))
    state = sharp_sam.state_dict()
    state['mask_decoder.iou_token.weight'] = torch.zeros(1, 7)
    del state['prompt_encoder.not_a_point_embed.weight']
    bad = str(tmp_path / 'bad.pth')
    torch.save(state, bad)
    with pytest.raises(SamCheckpointError, match=r'1 missing keys .*1 mis-shaped tensors') as err:
        build_sam('sam_tiny', bad)
    assert bad in str(err.value) and 'looks like' not in str(err.value)
