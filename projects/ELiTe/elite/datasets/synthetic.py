"""A synthetic SemanticKITTI: scenes of simple 3D objects seen by a ray-cast LiDAR and camera.

Both sensors are rendered by the same ray caster from the same objects through the same calibration, so
each LiDAR point lands on a pixel painted with its object's colour (up to occlusion and parallax at
object edges). The output has exactly the real layout (``sequences/XX/{velodyne,labels,image_2}``,
``calib.txt``, ``poses.txt``); test sequences get no labels, as in the real benchmark. The world is static
and the ego vehicle drives along +x, so poses and instance ids are consistent across frames.
"""
import os
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .kitti_files import (
    calib_path,
    image_path,
    label_path,
    poses_path,
    scan_path,
    sequence_dir,
    write_calib,
    write_label,
    write_poses,
    write_scan,
)
from .semantickitti_infos import create_semantickitti_infos

# KITTI odometry sequence 00 calibration (camera 0 rectified frame).
KITTI_CALIB = {
    'P0': np.array([[718.856, 0.0, 607.1928, 0.0], [0.0, 718.856, 185.2157, 0.0], [0.0, 0.0, 1.0, 0.0]]),
    'P1': np.array([[718.856, 0.0, 607.1928, -386.1448], [0.0, 718.856, 185.2157, 0.0], [0.0, 0.0, 1.0, 0.0]]),
    'P2': np.array([[718.856, 0.0, 607.1928, 45.38225], [0.0, 718.856, 185.2157, -0.1130887],
                    [0.0, 0.0, 1.0, 0.003779761]]),
    'P3': np.array([[718.856, 0.0, 607.1928, -337.2877], [0.0, 718.856, 185.2157, 2.369057],
                    [0.0, 0.0, 1.0, 0.004915215]]),
    'Tr': np.array([[4.276802385584e-04, -9.999672484946e-01, -8.084491683471e-03, -1.198459927713e-02],
                    [-7.210626507497e-03, 8.081198471645e-03, -9.999413164504e-01, -5.403984729748e-02],
                    [9.999738645903e-01, 4.859485810390e-04, -7.206933692422e-03, -2.921968648686e-01],
                    [0.0, 0.0, 0.0, 1.0]]),
}
FULL_IMAGE_SIZE = (1241, 376)  # (width, height) of KITTI odometry image_2
LIDAR_HEIGHT = 1.73  # metres above the ground
SKY_RGB = (185, 210, 235)
LABELLED_SEQUENCES = {f'{i:02d}' for i in range(11)}  # 00-10 have labels; 11-21 are the test split

# raw SemanticKITTI id -> RGB colour painted in the image (distinct per class so a test can recover the class)
CLASS_RGB = {
    10: (100, 150, 245),  # car
    11: (100, 230, 245),  # bicycle
    30: (255, 30, 30),  # person
    40: (255, 0, 255),  # road
    48: (75, 0, 75),  # sidewalk
    50: (255, 200, 0),  # building
    51: (255, 120, 50),  # fence
    70: (0, 175, 0),  # vegetation
    71: (135, 60, 0),  # trunk
    72: (150, 240, 80),  # terrain
    80: (255, 240, 150),  # pole
    81: (0, 0, 255),  # traffic-sign
}
CLASS_INTENSITY = {10: 0.6, 11: 0.4, 30: 0.3, 40: 0.2, 48: 0.35, 50: 0.5, 51: 0.45, 70: 0.25, 71: 0.3,
                   72: 0.15, 80: 0.7, 81: 0.9}


@dataclass
class Scene:
    """Objects in world coordinates (x forward, y left, z up; ground at z = -LIDAR_HEIGHT at the start).

    boxes: (K, 6) axis-aligned [xmin, ymin, zmin, xmax, ymax, zmax]; cylinders: (C, 5) vertical
    [cx, cy, radius, zmin, zmax]; spheres: (S, 4) [cx, cy, cz, radius]. Each primitive has a raw semantic
    id and an instance id (0 for stuff) in the matching ``*_sem`` / ``*_inst`` arrays.
    """
    boxes: np.ndarray
    box_sem: np.ndarray
    box_inst: np.ndarray
    cylinders: np.ndarray
    cyl_sem: np.ndarray
    cyl_inst: np.ndarray
    spheres: np.ndarray
    sph_sem: np.ndarray
    sph_inst: np.ndarray


def make_scene(rng: np.random.Generator, length: float) -> Scene:
    """Lay out a street of ``length`` metres ahead of (and 60 m behind) the start position."""
    g = -LIDAR_HEIGHT
    boxes, box_sem, box_inst = [], [], []
    cyls, cyl_sem, cyl_inst = [], [], []
    sphs, sph_sem, sph_inst = [], [], []
    instance = 1
    x0, x1 = -60.0, length + 60.0
    for side in (-1, 1):
        # sidewalk kerb (a thin box so the ground keeps road / sidewalk / terrain bands)
        boxes.append([x0, min(side * 4.0, side * 6.5), g, x1, max(side * 4.0, side * 6.5), g + 0.12])
        box_sem.append(48)
        box_inst.append(0)
        x = x0 + rng.uniform(0, 8)
        while x < x1:  # buildings behind the terrain, with gaps
            w = rng.uniform(8, 20)
            depth = rng.uniform(6, 12)
            near = rng.uniform(12, 16)
            ys = sorted([side * near, side * (near + depth)])
            boxes.append([x, ys[0], g, x + w, ys[1], g + rng.uniform(5, 14)])
            box_sem.append(50)
            box_inst.append(0)
            x += w + rng.uniform(2, 10)
        x = x0 + rng.uniform(0, 10)
        while x < x1:  # poles with signs, trees, fences, pedestrians along the sidewalk / terrain
            kind = rng.integers(4)
            y = side * rng.uniform(5.0, 6.0)
            if kind == 0:
                cyls.append([x, y, 0.1, g, g + 4.0])
                cyl_sem.append(80)
                cyl_inst.append(0)
                boxes.append([x - 0.05, y - 0.4, g + 2.6, x + 0.05, y + 0.4, g + 3.4])
                box_sem.append(81)
                box_inst.append(0)
            elif kind == 1:
                ty = side * rng.uniform(7.5, 10.5)
                cyls.append([x, ty, 0.25, g, g + 2.5])
                cyl_sem.append(71)
                cyl_inst.append(0)
                sphs.append([x, ty, g + 3.8, rng.uniform(1.5, 2.5)])
                sph_sem.append(70)
                sph_inst.append(0)
            elif kind == 2:
                fy = side * rng.uniform(7.0, 11.0)
                fl = rng.uniform(3, 8)
                boxes.append([x, fy - 0.05, g, x + fl, fy + 0.05, g + 1.2])
                box_sem.append(51)
                box_inst.append(0)
            else:
                cyls.append([x, y, 0.3, g + 0.12, g + 1.8])
                cyl_sem.append(30)
                cyl_inst.append(instance)
                instance += 1
            x += rng.uniform(4, 10)
        x = x0 + rng.uniform(0, 10)
        while x < x1:  # parked cars and the odd bicycle at the road edge
            lane_y = side * rng.uniform(2.2, 2.8)
            if rng.random() < 0.8:
                length_car = rng.uniform(3.8, 4.8)
                boxes.append([x, lane_y - 0.9, g + 0.1, x + length_car, lane_y + 0.9, g + 1.5])
                box_sem.append(10)
                x += length_car
            else:
                boxes.append([x, lane_y - 0.3, g + 0.1, x + 1.7, lane_y + 0.3, g + 1.1])
                box_sem.append(11)
                x += 1.7
            box_inst.append(instance)
            instance += 1
            x += rng.uniform(3, 15)

    def arr(rows: List, width: int) -> np.ndarray:
        return np.asarray(rows, dtype=np.float64).reshape(-1, width)

    return Scene(arr(boxes, 6), np.asarray(box_sem, np.uint16), np.asarray(box_inst, np.uint16),
                 arr(cyls, 5), np.asarray(cyl_sem, np.uint16), np.asarray(cyl_inst, np.uint16),
                 arr(sphs, 4), np.asarray(sph_sem, np.uint16), np.asarray(sph_inst, np.uint16))


def crop_scene(scene: Scene, ego_x: float, x_min: float, x_max: float) -> Scene:
    """Keep the primitives overlapping ego_x + [x_min, x_max] along x (ray casting cost grows with count)."""
    lo, hi = ego_x + x_min, ego_x + x_max
    keep_box = (scene.boxes[:, 3] >= lo) & (scene.boxes[:, 0] <= hi)
    keep_cyl = ((scene.cylinders[:, 0] + scene.cylinders[:, 2] >= lo)
                & (scene.cylinders[:, 0] - scene.cylinders[:, 2] <= hi))
    keep_sph = (scene.spheres[:, 0] + scene.spheres[:, 3] >= lo) & (scene.spheres[:, 0] - scene.spheres[:, 3] <= hi)
    return Scene(scene.boxes[keep_box], scene.box_sem[keep_box], scene.box_inst[keep_box],
                 scene.cylinders[keep_cyl], scene.cyl_sem[keep_cyl], scene.cyl_inst[keep_cyl],
                 scene.spheres[keep_sph], scene.sph_sem[keep_sph], scene.sph_inst[keep_sph])


def _ground_class(y: np.ndarray) -> np.ndarray:
    ay = np.abs(y)
    return np.where(ay < 4.0, 40, np.where(ay < 6.5, 48, 72)).astype(np.uint16)


def cast_rays(scene: Scene, origins: np.ndarray, dirs: np.ndarray, max_range: float,
              chunk: int = 65536) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest hit of each ray: distance along ``dirs`` (inf for a miss), semantic and instance ids.

    origins: (R, 3) or (3,) world positions; dirs: (R, 3) directions (any length; t is in their units).
    """
    n = len(dirs)
    origins = np.broadcast_to(origins, (n, 3))
    t_all = np.full(n, np.inf)
    sem_all = np.zeros(n, np.uint16)
    inst_all = np.zeros(n, np.uint16)
    eps = 1e-9
    for s in range(0, n, chunk):
        o, d = origins[s:s + chunk], dirs[s:s + chunk]
        best = np.full(len(d), np.inf)
        sem = np.zeros(len(d), np.uint16)
        inst = np.zeros(len(d), np.uint16)

        def take(t: np.ndarray, sem_ids: np.ndarray, inst_ids: np.ndarray) -> None:
            """t: (r, K) hit distances (inf = miss) of K primitives; keep the nearest per ray."""
            if t.shape[1] == 0:
                return
            k = np.argmin(t, axis=1)
            tk = t[np.arange(len(t)), k]
            better = tk < best
            best[better] = tk[better]
            sem[better] = sem_ids[k[better]]
            inst[better] = inst_ids[k[better]]

        # ground plane
        dz = np.where(np.abs(d[:, 2]) < eps, -eps, d[:, 2])
        t_ground = (-LIDAR_HEIGHT - o[:, 2]) / dz
        t_ground = np.where(t_ground > 0, t_ground, np.inf)
        ground_sem = _ground_class(o[:, 1] + t_ground * d[:, 1])
        better = t_ground < best
        best[better] = t_ground[better]
        sem[better] = ground_sem[better]
        inst[better] = 0

        # axis-aligned boxes (slab method)
        b = scene.boxes
        if len(b):
            inv = 1.0 / np.where(np.abs(d) < eps, eps, d)
            t1 = (b[None, :, :3] - o[:, None]) * inv[:, None]
            t2 = (b[None, :, 3:] - o[:, None]) * inv[:, None]
            tnear = np.minimum(t1, t2).max(axis=2)
            tfar = np.maximum(t1, t2).min(axis=2)
            hit = (tnear <= tfar) & (tfar > 0)
            t = np.where(hit, np.where(tnear > 0, tnear, tfar), np.inf)
            take(t, scene.box_sem, scene.box_inst)

        # vertical cylinders (side surface)
        c = scene.cylinders
        if len(c):
            ox = o[:, None, 0] - c[None, :, 0]
            oy = o[:, None, 1] - c[None, :, 1]
            a = (d[:, 0] ** 2 + d[:, 1] ** 2)[:, None] + eps
            bq = 2 * (d[:, None, 0] * ox + d[:, None, 1] * oy)
            cq = ox ** 2 + oy ** 2 - c[None, :, 2] ** 2
            disc = bq ** 2 - 4 * a * cq
            root = np.sqrt(np.maximum(disc, 0))
            t = (-bq - root) / (2 * a)
            z = o[:, None, 2] + t * d[:, None, 2]
            ok = (disc >= 0) & (t > 0) & (z >= c[None, :, 3]) & (z <= c[None, :, 4])
            take(np.where(ok, t, np.inf), scene.cyl_sem, scene.cyl_inst)

        # spheres
        p = scene.spheres
        if len(p):
            oc = o[:, None, :] - p[None, :, :3]
            a = (d ** 2).sum(1)[:, None]
            bq = 2 * (oc * d[:, None, :]).sum(2)
            cq = (oc ** 2).sum(2) - p[None, :, 3] ** 2
            disc = bq ** 2 - 4 * a * cq
            t = (-bq - np.sqrt(np.maximum(disc, 0))) / (2 * a)
            take(np.where((disc >= 0) & (t > 0), t, np.inf), scene.sph_sem, scene.sph_inst)

        best[best * np.linalg.norm(d, axis=1) > max_range] = np.inf
        t_all[s:s + chunk] = best
        sem_all[s:s + chunk] = np.where(np.isfinite(best), sem, 0)
        inst_all[s:s + chunk] = np.where(np.isfinite(best), inst, 0)
    return t_all, sem_all, inst_all


def lidar_scan(scene: Scene, ego_x: float, num_points: int, rng: np.random.Generator
               ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 64-beam 360 degree scan from (ego_x, 0, 0): (N, 4) float32 points in the LiDAR frame and labels."""
    beams = 64
    n_az = int(np.ceil(1.25 * num_points / beams))
    elev = np.deg2rad(np.linspace(2.0, -24.8, beams))
    az = np.linspace(-np.pi, np.pi, n_az, endpoint=False) + rng.uniform(0, 2 * np.pi / n_az)
    el, a = np.meshgrid(elev, az, indexing='ij')
    dirs = np.stack([np.cos(el) * np.cos(a), np.cos(el) * np.sin(a), np.sin(el)], -1).reshape(-1, 3)
    origin = np.array([ego_x, 0.0, 0.0])
    t, sem, inst = cast_rays(crop_scene(scene, ego_x, -80.0, 80.0), origin, dirs, max_range=80.0)
    hit = np.flatnonzero(np.isfinite(t))
    if len(hit) > num_points:
        hit = np.sort(rng.choice(hit, num_points, replace=False))
    xyz = dirs[hit] * (t[hit, None] + rng.normal(0, 0.01, (len(hit), 1)))
    intensity = np.array([CLASS_INTENSITY[int(s)] for s in sem[hit]]) + rng.normal(0, 0.03, len(hit))
    points = np.concatenate([xyz, np.clip(intensity, 0, 1)[:, None]], 1).astype(np.float32)
    return points, sem[hit], inst[hit]


def camera_image(scene: Scene, ego_x: float, calib: Dict[str, np.ndarray], size: Tuple[int, int],
                 rng: np.random.Generator) -> np.ndarray:
    """Render the camera-2 RGB image (H, W, 3) uint8: each pixel shows the object its centre ray hits."""
    width, height = size
    p2 = calib['P2']
    k_inv = np.linalg.inv(p2[:, :3])
    centre_cam0 = -k_inv @ p2[:, 3]  # P2 = K [I | K^-1 p4]: the camera centre in camera-0 coordinates
    cam0_to_lidar = np.linalg.inv(calib['Tr'])
    cols, rows = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    pix = np.stack([cols.ravel(), rows.ravel(), np.ones(cols.size)], 0)
    dirs = (cam0_to_lidar[:3, :3] @ (k_inv @ pix)).T
    origin = cam0_to_lidar[:3, :3] @ centre_cam0 + cam0_to_lidar[:3, 3] + np.array([ego_x, 0.0, 0.0])
    # the camera looks along +x: objects behind it or beyond 120 m never reach a pixel
    t, sem, _ = cast_rays(crop_scene(scene, ego_x, -1.0, 120.0), origin, dirs, max_range=1e4)
    palette = np.zeros((max(CLASS_RGB) + 1, 3), np.float64)
    for cls, rgb in CLASS_RGB.items():
        palette[cls] = rgb
    img = np.where(np.isfinite(t)[:, None], palette[sem], np.asarray(SKY_RGB, np.float64))
    img += rng.normal(0, 4.0, img.shape)  # mild sensor noise keeps colour augmentations meaningful
    return np.clip(img, 0, 255).astype(np.uint8).reshape(height, width, 3)


def ego_pose_cam0(ego_x: float, tr: np.ndarray) -> np.ndarray:
    """SemanticKITTI pose (camera-0 frame) of an ego vehicle at lidar-frame position (ego_x, 0, 0)."""
    pose_lidar = np.eye(4)
    pose_lidar[0, 3] = ego_x
    return tr @ pose_lidar @ np.linalg.inv(tr)


def write_sequence(out_dir: str, sequence: str, frames: int, num_points: int, seed: int,
                   image_size: Tuple[int, int] = FULL_IMAGE_SIZE, step: float = 1.0) -> None:
    """Write one sequence folder; deterministic for a given (sequence, seed)."""
    rng = np.random.default_rng([seed, int(sequence)])
    scene = make_scene(rng, length=frames * step)
    labelled = sequence in LABELLED_SEQUENCES
    for path in (scan_path, image_path) + ((label_path,) if labelled else ()):
        os.makedirs(os.path.dirname(path(out_dir, sequence, 0)), exist_ok=True)
    write_calib(calib_path(out_dir, sequence), KITTI_CALIB)
    poses = []
    for frame in range(frames):
        ego_x = frame * step
        points, sem, inst = lidar_scan(scene, ego_x, num_points, rng)
        write_scan(scan_path(out_dir, sequence, frame), points)
        if labelled:
            write_label(label_path(out_dir, sequence, frame), sem, inst)
        img = camera_image(scene, ego_x, KITTI_CALIB, image_size, rng)
        cv2.imwrite(image_path(out_dir, sequence, frame), img[:, :, ::-1])
        poses.append(ego_pose_cam0(ego_x, KITTI_CALIB['Tr']))
    write_poses(poses_path(out_dir, sequence), np.stack(poses))


def write_dataset(out_dir: str, sequences: Sequence[str] = ('00', '08', '11'), frames: int = 4,
                  num_points: int = 120000, seed: int = 0, image_size: Tuple[int, int] = FULL_IMAGE_SIZE,
                  progress: Optional[Iterable] = None) -> None:
    """Write a synthetic SemanticKITTI under ``out_dir`` (train 00-07/09/10, val 08, test 11-21)."""
    for seq in (progress(sequences) if progress else sequences):
        write_sequence(out_dir, f'{int(seq):02d}', frames, num_points, seed, image_size)


def ensure_synthetic_dataset(root: str, sequences: Sequence[str] = ('00', '08', '11'), frames: int = 4,
                             num_points: int = 120000, seed: int = 0,
                             log: Callable[[str], None] = lambda msg: None) -> None:
    """Write the dataset and its ``semantickitti_infos_*.pkl`` under ``root`` unless they are there already."""
    if not all(os.path.isdir(sequence_dir(root, s)) for s in sequences):
        log(f'generating the synthetic dataset under {root} ...')
        write_dataset(root, sequences, frames=frames, num_points=num_points, seed=seed)
    if not os.path.isfile(os.path.join(root, 'semantickitti_infos_train.pkl')):
        create_semantickitti_infos(root, root, 'semantickitti', log=log)
