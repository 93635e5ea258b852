"""SAM-PLG: dense pseudo-labels for a camera image from its sparse projected LiDAR labels.

One function per step, so that each can be checked alone; :class:`SamPseudoLabelGenerator` chains them. No file
I/O here: ``writer.py`` saves the labels (step 8).

1. :func:`sparse_label_images`: the scan's labels at its points' pixels (the last point in scan order wins a
   shared pixel, as the reference paints them one after the other; ``shared_pixel='nearest'``: the nearest).
2. :func:`label_grid`: those labels downsampled (nearest) to SAM's low-resolution mask grid, 256 x 256 cells of
   4 x 4 pixels of the 1024 frame (the image resized so that its longest side is 1024, as SamPredictor resizes
   it, padded at the bottom / right): cell i reads pixel ``floor(i * max(H, W) / 256)``, the cell's corner, as
   the reference's ``cv2.resize(INTER_NEAREST)`` of the label image padded to a square; :func:`point_prompts`:
   one positive point per labelled cell, at its centre.
3. :func:`mask_inputs`: per prompt, a 256 x 256 mask input: +16 on the cells of its instance (things), +1 on the
   cells of its class (stuff), -16 on the cells of other labelled classes, 0 elsewhere.
4. SamPredictor: one image embedding per image, then the prompts in batches, 3 mask logits each.
5. :func:`stable_masks` (stability score >= 0.9 at offset 1.0, boxes from the masks), :func:`box_nms` (IoU 0.7).
6. :func:`majority_labels`: a mask takes the most frequent class among the pixels with a projected point it
   covers, points labelled unlabelled included; a mask covering none, or won by unlabelled, is dropped; its
   instance is the most frequent instance id among the same pixels (any class), painted only if not 0 (the
   reference ``amg.py``; ``instance_vote='within_class'``: the most frequent instance of the winning class,
   always painted).
7. :func:`paint_masks`: masks painted in ascending predicted-IoU order (best last) over the sparse labels.

Semantic labels are the reference's ``learning_map`` ids (uint16, 0 = unlabelled, ``c + 1`` = mmdet3d's class
``c``; see ``datasets.semantickitti_labels.raw_to_learning``): the reference maps the point labels before
prompting, so prompts, mask inputs and votes live in the training classes (car and moving-car are one class).
Instance ids are the ``.label`` files' (0 = none).
"""
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
import torchvision
from segment_anything import SamPredictor
from segment_anything.modeling import Sam
from segment_anything.utils.amg import MaskData, batched_mask_to_box, calculate_stability_score
from segment_anything.utils.transforms import ResizeLongestSide
from torch import Tensor

from ..datasets.transforms.projection import project_to_image

UNLABELLED = 0
ID_RANGE = 1 << 16  # semantic and instance ids are uint16: (semantic, instance) pairs fit in one int64
DOWNSAMPLE_MODES = ('nearest', 'keep_labelled')
SHARED_PIXEL_RULES = ('last', 'nearest')
INSTANCE_VOTES = ('reference', 'within_class')


def sparse_label_images(points_xyz: np.ndarray, semantic: np.ndarray, instance: np.ndarray,
                        lidar2img: np.ndarray, img_hw: Tuple[int, int], shared_pixel: str = 'last'
                        ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Step 1: the scan's labels at the pixels its points project to.

    Args:
        points_xyz: (N, 3) LiDAR points.
        semantic, instance: (N,) learning_map semantic ids and instance ids of the points.
        lidar2img: (4, 4) ``P2 @ Tr``.
        img_hw: image (height, width).

        shared_pixel: which of several points on one pixel gives it its labels: ``'last'`` in scan order (the
            reference paints the points in order), or ``'nearest'`` the LiDAR (the one that occludes the others).

    Returns:
        semantic, instance: (H, W) uint16 images, 0 where no point projects.
        has_point: (H, W) bool, the pixels some point projects to (they vote in step 6, labelled or not).
    """
    if len(semantic) != len(points_xyz) or len(instance) != len(points_xyz):
        raise ValueError(f'sparse_label_images: {len(points_xyz)} points but {len(semantic)} semantic and '
                         f'{len(instance)} instance labels; pass the labels read with the scan')
    if shared_pixel not in SHARED_PIXEL_RULES:
        raise ValueError(f'sparse_label_images: shared_pixel must be one of {SHARED_PIXEL_RULES}, got {shared_pixel!r}')
    height, width = img_hw
    point2img_index, img_indices = project_to_image(points_xyz, lidar2img, img_hw)
    pixel = img_indices[:, 0] * width + img_indices[:, 1]
    if shared_pixel == 'nearest':
        rank = np.linalg.norm(points_xyz[point2img_index], axis=1)
    else:  # the last point in scan order first
        rank = -point2img_index.astype(np.float64)
    order = np.lexsort((rank, pixel))  # by pixel, the winning point first
    _, first = np.unique(pixel[order], return_index=True)
    nearest = order[first]
    sem_img = np.zeros(height * width, dtype=np.uint16)
    inst_img = np.zeros(height * width, dtype=np.uint16)
    sem_img[pixel[nearest]] = semantic[point2img_index[nearest]]
    inst_img[pixel[nearest]] = instance[point2img_index[nearest]]
    has_point = np.zeros(height * width, dtype=bool)
    has_point[pixel] = True
    return sem_img.reshape(height, width), inst_img.reshape(height, width), has_point.reshape(height, width)


def label_grid(semantic: np.ndarray, instance: np.ndarray, resized_hw: Tuple[int, int], grid_size: int = 256,
               cell_size: int = 4, downsample: str = 'nearest') -> Tuple[np.ndarray, np.ndarray]:
    """Step 2: sparse (H, W) label images on SAM's (grid_size, grid_size) low-resolution mask grid.

    The grid covers the 1024 frame: the image resized to ``resized_hw`` (rows and columns scaled separately, as
    ``ResizeLongestSide`` scales the image and the prompts), padded at the bottom / right.

    Args:
        downsample: 'nearest': nearest-neighbour downsampling as the paper's code does it ("for efficiency": a
            KITTI frame gives about 700 labelled cells): the label image on a max(H, W)-sided square (zeros below
            or right of the image), resized with OpenCV's INTER_NEAREST, so cell i reads pixel
            ``floor(i * max(H, W) / grid_size)`` on both axes, the cell's corner; 'keep_labelled': each cell
            holding any labelled pixel takes the label of the one nearest its centre, so no labelled cell is lost
            (about 12 times as many prompts).

    Returns:
        semantic, instance: (grid_size, grid_size) uint16, 0 on cells without label.
    """
    if downsample not in DOWNSAMPLE_MODES:
        raise ValueError(f'label_grid: unknown downsample {downsample!r}; choose one of {DOWNSAMPLE_MODES}')
    height, width = semantic.shape
    scale_y, scale_x = resized_hw[0] / height, resized_hw[1] / width
    if downsample == 'nearest':
        src_r = src_c = np.floor(np.arange(grid_size) * (max(height, width) / grid_size)).astype(np.int64)
        on_r, on_c = src_r < height, src_c < width  # cells of the padding stay unlabelled
        grid_sem = np.zeros((grid_size, grid_size), dtype=np.uint16)
        grid_inst = np.zeros((grid_size, grid_size), dtype=np.uint16)
        grid_sem[np.ix_(on_r, on_c)] = semantic[np.ix_(src_r[on_r], src_c[on_c])]
        grid_inst[np.ix_(on_r, on_c)] = instance[np.ix_(src_r[on_r], src_c[on_c])]
        return grid_sem, grid_inst
    rows, cols = np.nonzero(semantic != UNLABELLED)
    y, x = (rows + 0.5) * scale_y, (cols + 0.5) * scale_x
    # y < resized height <= grid_size * cell_size, so every cell index is on the grid.
    cell_r, cell_c = (y // cell_size).astype(np.int64), (x // cell_size).astype(np.int64)
    offset = (y - (cell_r + 0.5) * cell_size) ** 2 + (x - (cell_c + 0.5) * cell_size) ** 2
    cell = cell_r * grid_size + cell_c
    order = np.lexsort((offset, cell))  # by cell, most central first
    _, first = np.unique(cell[order], return_index=True)
    chosen = order[first]
    grid_sem = np.zeros(grid_size * grid_size, dtype=np.uint16)
    grid_inst = np.zeros(grid_size * grid_size, dtype=np.uint16)
    grid_sem[cell[chosen]] = semantic[rows[chosen], cols[chosen]]
    grid_inst[cell[chosen]] = instance[rows[chosen], cols[chosen]]
    return grid_sem.reshape(grid_size, grid_size), grid_inst.reshape(grid_size, grid_size)


def point_prompts(grid_semantic: np.ndarray, cell_size: int = 4) -> Tuple[np.ndarray, np.ndarray]:
    """Step 2: one positive point prompt per labelled cell.

    Returns:
        cells: (N, 2) int64 (row, col) of the labelled cells, row-major.
        coords: (N, 2) float32 (x, y) in the 1024 frame, as ``SamPredictor.predict_torch`` takes them. SAM's
        prompt encoder reads a coordinate as a pixel index and adds 0.5 to reach the pixel's centre, so the
        cell's centre ``cell_size * (c + 0.5)`` is passed as ``cell_size * c + cell_size / 2 - 0.5``.
    """
    cells = np.argwhere(grid_semantic != UNLABELLED).astype(np.int64)
    coords = (cells[:, ::-1] * cell_size + (cell_size / 2 - 0.5)).astype(np.float32)
    return cells, coords


def mask_inputs(grid_semantic: Tensor, grid_instance: Tensor, cells: Tensor, same_instance: float = 16.0,
                same_class: float = 1.0, other_class: float = -16.0) -> Tensor:
    """Step 3: the low-resolution mask input of each prompt.

    Args:
        grid_semantic, grid_instance: (G, G) integer label grids (:func:`label_grid`).
        cells: (B, 2) (row, col) of the prompts' cells.
        same_instance: on the cells of the prompt's instance id, when the prompt's cell has one (a thing), unless
            labelled with another class (the reference marks the id, then -16 on every other labelled class).
        same_class: on the cells of the prompt's class, when its cell has no instance (stuff).
        other_class: on the labelled cells of every other class.

    Returns:
        (B, 1, G, G) float32 logits; 0 on unlabelled cells and, for things, on other instances of the class.
    """
    prompt_sem = grid_semantic[cells[:, 0], cells[:, 1]][:, None, None]
    prompt_inst = grid_instance[cells[:, 0], cells[:, 1]][:, None, None]
    labelled = (grid_semantic != UNLABELLED)[None]
    class_match = grid_semantic[None] == prompt_sem
    is_thing = prompt_inst != 0
    logits = torch.zeros(class_match.shape, dtype=torch.float32, device=grid_semantic.device)
    logits[labelled & ~class_match] = other_class
    logits[is_thing & (class_match | ~labelled) & (grid_instance[None] == prompt_inst)] = same_instance
    logits[~is_thing & class_match] = same_class
    return logits[:, None]


def stable_masks(mask_logits: Tensor, mask_threshold: float = 0.0, stability_offset: float = 1.0,
                 min_stability: float = 0.9) -> Tuple[Tensor, Tensor, Tensor]:
    """Step 5: keep the masks whose stability score (IoU of the masks thresholded at ``mask_threshold`` +/-
    ``stability_offset``) is at least ``min_stability``; their boxes.

    Args:
        mask_logits: (M, H, W) mask logits.

    Returns:
        keep: (M,) bool; masks: (K, H, W) bool, the kept masks thresholded at ``mask_threshold``;
        boxes: (K, 4) XYXY (inclusive pixel indices) around them.
    """
    keep = calculate_stability_score(mask_logits, mask_threshold, stability_offset) >= min_stability
    masks = mask_logits[keep] > mask_threshold
    return keep, masks, batched_mask_to_box(masks)


def box_nms(boxes: Tensor, scores: Tensor, iou_threshold: float = 0.7) -> Tensor:
    """Step 5: indices of the boxes kept by non-maximum suppression, best score first."""
    return torchvision.ops.nms(boxes.float(), scores.float(), iou_threshold)


def majority_labels(covered: Tensor, semantic: Tensor, instance: Tensor, instance_vote: str = 'reference'
                    ) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Step 6: each mask's majority class and instance over the pixels with a point.

    Args:
        covered: (M, K) bool, which of the K pixels with a projected point each mask covers.
        semantic, instance: (K,) int64 labels of those pixels (semantic 0 = a point labelled unlabelled: it votes).
        instance_vote: ``'reference'`` (``amg.py``): the most frequent instance id among the covered pixels,
            whatever their class (0 votes too), painted only if it is not 0; ``'within_class'``: the most frequent
            instance of the winning class, always painted.

    Returns:
        semantic, instance: (M,) int64; ties go to the smaller id. has_label: (M,) bool, False for masks that
        cover no such pixel or whose majority is unlabelled (they are not painted, as in the reference).
        paint_instance: (M,) bool, whether the mask's instance is painted (else its pixels keep theirs).
    """
    if instance_vote not in INSTANCE_VOTES:
        raise ValueError(f'majority_labels: instance_vote must be one of {INSTANCE_VOTES}, got {instance_vote!r}')
    classes, class_of_pixel = torch.unique(semantic, return_inverse=True)
    hits = covered.float()
    # Counts stay exact in float32 up to 2^24 pixels.
    class_counts = hits @ torch.nn.functional.one_hot(class_of_pixel, len(classes)).float()
    best_class = classes[class_counts.argmax(dim=1)]
    has_label = covered.any(dim=1) & (best_class != UNLABELLED)
    if instance_vote == 'reference':
        ids, id_of_pixel = torch.unique(instance, return_inverse=True)
        id_counts = hits @ torch.nn.functional.one_hot(id_of_pixel, len(ids)).float()
        best_instance = ids[id_counts.argmax(dim=1)]
        return best_class, best_instance, has_label, best_instance != 0
    pairs, pair_of_pixel = torch.unique(semantic * ID_RANGE + instance, return_inverse=True)
    pair_counts = hits @ torch.nn.functional.one_hot(pair_of_pixel, len(pairs)).float()
    pair_counts[(pairs // ID_RANGE)[None] != best_class[:, None]] = -1  # only instances of the winning class
    best_instance = pairs[pair_counts.argmax(dim=1)] % ID_RANGE
    return best_class, best_instance, has_label, torch.ones_like(has_label)


class CompactMasks:
    """Binary (H, W) masks stored bit-packed (8 pixels a byte) on the device they were made on.

    An image yields thousands of masks before NMS; at full size (about 0.5 MB each for KITTI) they would need
    gigabytes, and copying each to the host as it is made would move thousands of full-size masks across the
    bus on a GPU. Packed where they are made, only the masks that survive NMS (:meth:`take`) reach the host, in
    one copy.
    """

    def __init__(self, hw: Tuple[int, int]) -> None:
        self.hw = hw
        self._packed: List[Tensor] = []  # (K_i, ceil(H * W / 8)) uint8 per extend()
        self._host: Optional[np.ndarray] = None  # after take(): (K, ceil(H * W / 8)) uint8 on the host

    def extend(self, masks: Tensor) -> None:
        """Adds (K, H, W) bool masks."""
        self._packed.append(pack_bits(masks))

    def take(self, indices) -> 'CompactMasks':
        """The masks at ``indices`` (a sequence or a tensor of ints), copied to the host together."""
        subset = CompactMasks(self.hw)
        packed = torch.cat(self._packed) if self._packed else torch.zeros((0, 0), dtype=torch.uint8)
        index = torch.as_tensor(indices if torch.is_tensor(indices) else list(indices), dtype=torch.long,
                                device=packed.device)
        subset._host = packed[index].cpu().numpy()
        return subset

    def __len__(self) -> int:
        return len(self._host) if self._host is not None else sum(len(p) for p in self._packed)

    def __getitem__(self, index: int) -> np.ndarray:
        row = self._host[index] if self._host is not None else self.take([index])._host[0]
        return np.unpackbits(row, count=self.hw[0] * self.hw[1]).reshape(self.hw).astype(bool)


def pack_bits(masks: Tensor) -> Tensor:
    """(K, H, W) bool -> (K, ceil(H * W / 8)) uint8 on their device, in ``numpy.packbits`` order (first pixel in
    the highest bit)."""
    flat = masks.flatten(1).to(torch.uint8)
    flat = torch.cat([flat, flat.new_zeros((len(flat), -flat.shape[1] % 8))], 1)
    weights = torch.tensor([128, 64, 32, 16, 8, 4, 2, 1], dtype=torch.uint8, device=flat.device)
    return (flat.view(len(flat), -1, 8) * weights).sum(-1, dtype=torch.uint8)


def paint_masks(semantic: np.ndarray, instance: np.ndarray, masks: Sequence[np.ndarray], mask_semantic: np.ndarray,
                mask_instance: np.ndarray, scores: np.ndarray, paint_instance: Optional[np.ndarray] = None
                ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Step 7: paint the masks' labels over the sparse labels, in ascending score order (best last, so the best
    mask wins an overlap; equal scores keep their given order).

    Args:
        semantic, instance: (H, W) sparse labels; a pixel keeps its label unless a mask paints it.
        masks: M masks of (H, W) bool (an (M, H, W) array or :class:`CompactMasks`).
        mask_semantic, mask_instance, scores: (M,) each mask's labels and predicted IoU.
        paint_instance: (M,) bool, whether each mask paints its instance (default: all do).

    Returns:
        semantic, instance: (H, W) uint16 new arrays; painted: (H, W) bool, the pixels a mask painted.
    """
    semantic = semantic.astype(np.uint16, copy=True)
    instance = instance.astype(np.uint16, copy=True)
    painted = np.zeros(semantic.shape, dtype=bool)
    for i in np.argsort(np.asarray(scores), kind='stable'):
        mask = masks[int(i)]
        semantic[mask] = mask_semantic[i]
        if paint_instance is None or paint_instance[i]:
            instance[mask] = mask_instance[i]
        painted |= mask
    return semantic, instance, painted


@dataclass
class PseudoLabels:
    """One image's pseudo-labels and how many prompts / masks each step left."""
    semantic: np.ndarray  # (H, W) uint16 learning_map ids (0 = unlabelled)
    instance: np.ndarray  # (H, W) uint16 instance ids
    painted: np.ndarray  # (H, W) bool, pixels some mask painted (the rest keep the sparse labels)
    num_prompts: int
    num_masks: int  # 3 per prompt
    num_stable: int
    num_after_nms: int
    num_painted: int  # kept by NMS, covering a point and not won by unlabelled


class SamPseudoLabelGenerator:
    """Dense pseudo-labels from SAM prompted with the projected scan's labels (steps 2 to 7).

    Args:
        sam: a segment-anything ``Sam`` (any type), on the device to run on.
        points_per_batch: prompts decoded together; memory grows with it (3 full-size logit maps per prompt).
        stability_score_thresh: minimum stability score of a kept mask.
        stability_score_offset: logit offset of the stability score.
        box_nms_thresh: box IoU above which the mask of lower predicted IoU is dropped.
        same_instance_logit, same_class_logit, other_class_logit: mask-input values (:func:`mask_inputs`).
        downsample: how labels reach the prompt grid, 'nearest' (the paper's) or 'keep_labelled'
            (:func:`label_grid`).
        instance_vote: 'reference' or 'within_class' (:func:`majority_labels`).

    ``encoder_runs`` counts the image encoder's forward passes during :meth:`generate` (one per image with
    labels).
    """

    def __init__(self, sam: Sam, points_per_batch: int = 64, stability_score_thresh: float = 0.9,
                 stability_score_offset: float = 1.0, box_nms_thresh: float = 0.7, same_instance_logit: float = 16.0,
                 same_class_logit: float = 1.0, other_class_logit: float = -16.0, downsample: str = 'nearest',
                 instance_vote: str = 'reference') -> None:
        if points_per_batch < 1:
            raise ValueError(f'SamPseudoLabelGenerator: points_per_batch must be >= 1, got {points_per_batch}')
        if downsample not in DOWNSAMPLE_MODES:
            raise ValueError(f'SamPseudoLabelGenerator: unknown downsample {downsample!r}; choose one of '
                             f'{DOWNSAMPLE_MODES}')
        self.predictor = SamPredictor(sam)
        self.points_per_batch = points_per_batch
        self.stability_score_thresh = stability_score_thresh
        self.stability_score_offset = stability_score_offset
        self.box_nms_thresh = box_nms_thresh
        self.downsample = downsample
        if instance_vote not in INSTANCE_VOTES:
            raise ValueError(f'SamPseudoLabelGenerator: instance_vote must be one of {INSTANCE_VOTES}, got '
                             f'{instance_vote!r}')
        self.instance_vote = instance_vote
        self.mask_values = dict(same_instance=same_instance_logit, same_class=same_class_logit,
                                other_class=other_class_logit)
        self.grid_size = sam.prompt_encoder.mask_input_size[0]
        self.cell_size = sam.image_encoder.img_size // self.grid_size
        self.encoder_runs = 0

    def _count_encoder_run(self, *_) -> None:
        self.encoder_runs += 1

    @torch.no_grad()
    def generate(self, image: np.ndarray, semantic: np.ndarray, instance: np.ndarray,
                 has_point: Optional[np.ndarray] = None) -> PseudoLabels:
        """Pseudo-labels for one image.

        Args:
            image: (H, W, 3) uint8 RGB.
            semantic, instance, has_point: (H, W) sparse labels and the pixels with a point
                (:func:`sparse_label_images`); without ``has_point``, the pixels with a label other than 0.
        """
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f'SamPseudoLabelGenerator: image must be (H, W, 3) uint8 RGB, got {image.shape} '
                             f'{image.dtype}')
        has_point = semantic != UNLABELLED if has_point is None else has_point
        if not semantic.shape == instance.shape == has_point.shape == image.shape[:2]:
            raise ValueError(f'SamPseudoLabelGenerator: label images {semantic.shape} / {instance.shape} / '
                             f'{has_point.shape} do not match the image {image.shape[:2]}')
        hw = image.shape[:2]
        resized_hw = ResizeLongestSide.get_preprocess_shape(*hw, self.predictor.model.image_encoder.img_size)
        grid_sem, grid_inst = label_grid(semantic, instance, resized_hw, self.grid_size, self.cell_size,
                                         self.downsample)
        cells, coords = point_prompts(grid_sem, self.cell_size)
        if not len(cells):  # nothing to prompt with: no image embedding needed
            return PseudoLabels(semantic.astype(np.uint16), instance.astype(np.uint16), np.zeros(hw, bool),
                                0, 0, 0, 0, 0)

        # Counts the encoder's own forward passes while this generator runs, whoever triggers them.
        hook = self.predictor.model.image_encoder.register_forward_hook(self._count_encoder_run)
        try:
            return self._prompt_sam(image, semantic, instance, has_point, grid_sem, grid_inst, cells, coords)
        finally:
            hook.remove()
            self.predictor.reset_image()

    def _prompt_sam(self, image: np.ndarray, semantic: np.ndarray, instance: np.ndarray, has_point: np.ndarray,
                    grid_sem: np.ndarray, grid_inst: np.ndarray, cells: np.ndarray, coords: np.ndarray
                    ) -> PseudoLabels:
        """Steps 3 to 7 for the prompts of :meth:`generate`."""
        hw = image.shape[:2]
        device = self.predictor.device
        self.predictor.set_image(image)  # step 4: the image's one embedding
        grid_sem_t, grid_inst_t, cells_t = (_long_tensor(a, device) for a in (grid_sem, grid_inst, cells))
        coords_t = torch.as_tensor(coords, device=device)
        rows, cols = np.nonzero(has_point)
        rows_t, cols_t = _long_tensor(rows, device), _long_tensor(cols, device)
        pixel_sem = _long_tensor(semantic[rows, cols], device)
        pixel_inst = _long_tensor(instance[rows, cols], device)

        store, data = CompactMasks(hw), MaskData()  # the masks packed; their boxes, scores and labels
        for start in range(0, len(cells), self.points_per_batch):
            batch = slice(start, start + self.points_per_batch)
            logits, iou_preds, _ = self.predictor.predict_torch(
                coords_t[batch, None], torch.ones_like(cells_t[batch, :1], dtype=torch.int),
                mask_input=mask_inputs(grid_sem_t, grid_inst_t, cells_t[batch], **self.mask_values),
                multimask_output=True, return_logits=True)
            keep, masks, batch_boxes = stable_masks(logits.flatten(0, 1), self.predictor.model.mask_threshold,
                                                    self.stability_score_offset, self.stability_score_thresh)
            del logits
            sem, inst, has, paint = majority_labels(masks[:, rows_t, cols_t], pixel_sem, pixel_inst,
                                                    self.instance_vote)
            store.extend(masks)
            data.cat(MaskData(boxes=batch_boxes, scores=iou_preds.flatten(0, 1)[keep], semantic=sem, instance=inst,
                              has_label=has, paint_instance=paint))

        after_nms = box_nms(data['boxes'], data['scores'], self.box_nms_thresh)
        kept = after_nms[data['has_label'][after_nms]]
        data.filter(kept)
        data.to_numpy()
        out_sem, out_inst, painted = paint_masks(semantic, instance, store.take(kept), data['semantic'],
                                                 data['instance'], data['scores'], data['paint_instance'])
        return PseudoLabels(out_sem, out_inst, painted, num_prompts=len(cells), num_masks=3 * len(cells),
                            num_stable=len(store), num_after_nms=len(after_nms), num_painted=len(kept))


def _long_tensor(array: np.ndarray, device: torch.device) -> Tensor:
    return torch.as_tensor(array.astype(np.int64), device=device)
