"""What every student backbone hands its heads and the distillers: :class:`StageFeatures`."""
import collections.abc
from dataclasses import dataclass
from typing import List, Optional, Sequence

import torch
from torch import Tensor


@dataclass(eq=False)
class StageFeatures(collections.abc.Sequence):
    """Each stage's features of every point, stored once per *row*, plus what per-voxel distillation reads.

    rows: per stage, (R, C_i) features; the points of one row have the same features in every stage (SPVCNNLite:
        a row per finest stage-output voxel; a per-point student: a row per point).
    point2row: (N,) each point's row; None when the rows are the points.
    branch_features: per stage, the voxel branch's output at the stage's input scale (SPVCNNLite: scales 1, 2, 4,
        8; what the reference's PPMSKD stage heads read); None for a student without a voxel branch.
    point2branch_input: (N,) each point's row in ``branch_features[0]`` (its input voxel).
    branch_of_row: per stage i > 0, each row's voxel in ``branch_features[i]`` (None where the rows are those
        voxels).

    As a sequence, ``features[i]`` is stage i's (N, C_i) per-point tensor (``rows[i][point2row]``).
    """
    rows: List[Tensor]
    point2row: Optional[Tensor] = None
    branch_features: Optional[List[Tensor]] = None
    point2branch_input: Optional[Tensor] = None
    branch_of_row: Optional[List[Optional[Tensor]]] = None

    @classmethod
    def per_point(cls, features: Sequence[Tensor]) -> 'StageFeatures':
        """Stage features of a student that computes them per point (a row per point, no voxel branch)."""
        return cls(list(features))

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, stage: int) -> Tensor:
        return self.rows[stage] if self.point2row is None else self.rows[stage][self.point2row]

    def point_to_branch_voxel(self, stage: int) -> Tensor:
        """(N,): each point's row in ``branch_features[stage]``."""
        if self.branch_features is None:
            raise ValueError('these stage features carry no voxel-branch outputs')
        if stage == 0:
            return self.point2branch_input
        of_row = self.branch_of_row[stage]
        point2row = self.point2row if self.point2row is not None else torch.arange(
            len(self.point2branch_input), device=self.point2branch_input.device)
        return point2row if of_row is None else of_row[point2row]
