"""Config adjustments shared by tools/train.py and tools/test.py (kept here so tests can reach them)."""
import glob
import os
import os.path as osp
import pickle
import sys
import zipfile
from typing import Callable, List, Optional, Tuple

import torch
from mmengine.config import Config, DictAction

from .optim_wrapper import amp_twin

LABEL_TRANSFORMS = ('LoadAnnotations3D', 'LoadCheckedAnnotations3D', 'PointSegClassMapping')


def load_tool_config(config: str, work_dir: Optional[str] = None, cfg_options: Optional[dict] = None,
                     launcher: str = 'none') -> Config:
    """A config as mmdet3d's tools/train.py and tools/test.py read it: ``--cfg-options`` merged, work dir
    from the command line, else the config, else ``./work_dirs/<config name>``."""
    cfg = Config.fromfile(config)
    cfg.launcher = launcher
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    cfg.work_dir = work_dir or cfg.get('work_dir') or osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])
    return cfg


def add_launcher_args(parser) -> None:
    """``--cfg-options``, ``--launcher`` and ``--local_rank`` (set as LOCAL_RANK), shared by the tools."""
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. train_cfg.max_epochs=2')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def export_local_rank(args) -> None:
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)


class UnsupportedHereError(RuntimeError):
    """The command asks for something this machine cannot run (AMP or a GPU launcher without CUDA)."""


def run_tool(build_config: Callable[[], Config], action: str, errors: Tuple[type, ...]) -> int:
    """tools/train.py's and tools/test.py's ``main``: build the config and its Runner, call ``runner.<action>()``.
    A machine that cannot run the command exits 2, one of ``errors`` (errors that name their cause and fix) exits
    1, each with its message and no traceback."""
    from mmengine.runner import Runner
    try:
        cfg = build_config()
    except UnsupportedHereError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    runner = Runner.from_cfg(cfg)
    try:
        getattr(runner, action)()
    except errors as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    return 0


def use_amp(cfg: Config) -> Config:
    """tools/train.py ``--amp``: the AMP twin of the optimiser wrapper the config names (``ELiTeOptimWrapper`` ->
    ``ELiTeAmpOptimWrapper``, mmengine's ``OptimWrapper`` -> ``AmpOptimWrapper``), its options kept, with a
    dynamic loss scale."""
    cfg.optim_wrapper.type = amp_twin(cfg.optim_wrapper.get('type', 'OptimWrapper'))
    cfg.optim_wrapper.loss_scale = 'dynamic'
    return cfg


def setup_runner_config(cfg: Config, amp: bool = False) -> Config:
    """Make a config run on the machine at hand: nccl on GPUs, gloo on CPUs; AMP only with a GPU.

    Distributed on CPUs: mmengine's ``pytorch`` launcher calls ``torch.cuda.set_device`` and fails without a
    GPU, so the gloo process group is started here from torchrun's environment (the runner then skips its
    own) and DDP is told to use no device ids.
    """
    if torch.cuda.is_available():
        for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            if cfg.get(loader):  # page-locked batches: the host-to-GPU copy overlaps the compute
                cfg[loader].setdefault('pin_memory', True)
        return cfg
    if amp:
        raise UnsupportedHereError('--amp needs a CUDA GPU: the AMP optimiser wrapper (mmengine\'s AmpOptimWrapper, '
                                   'float16 with a grad scaler) runs on CUDA only, and torch sees no CUDA device '
                                   'here. Drop --amp to train in float32 on the CPU.')
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
    if cfg.get('launcher', 'none') != 'none':
        import torch.distributed as dist
        if cfg.launcher != 'pytorch':
            raise UnsupportedHereError(f'--launcher {cfg.launcher} needs GPUs here; on CPUs use torchrun with '
                                       '--launcher pytorch (tools/dist_train.sh)')
        if not dist.is_initialized():
            dist.init_process_group(backend='gloo')
        cfg.model_wrapper_cfg = dict(type='MMDistributedDataParallel', device_ids=None)
    return cfg


def infos_have_labels(data_root: str, ann_file: str) -> bool:
    """Whether the info file's samples carry ``pts_semantic_mask_path`` (False for the test split)."""
    path = ann_file if osp.isabs(ann_file) else osp.join(data_root or '', ann_file)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: info file not found; build it with tools/create_data.py semantickitti '
                                '(or set the dataset\'s data_root / ann_file)')
    with open(path, 'rb') as f:
        data_list = pickle.load(f)['data_list']
    return any('pts_semantic_mask_path' in info for info in data_list)


def without_label_loading(pipeline: List[dict]) -> List[dict]:
    return [t for t in pipeline if t['type'] not in LABEL_TRANSFORMS]


def setup_test_config(cfg: Config, tta: Optional[str] = None, submit_dir: Optional[str] = None,
                      show_dir: Optional[str] = None, show_interval: int = 1) -> Config:
    """Apply tools/test.py's options: TTA model and pipeline, submission metric, headless pictures.

    ``tta``: None (no TTA), ``'reference'`` (the config's ``tta_model`` / ``tta_pipeline``) or a scheme name
    ``X`` (``X_tta_model`` / ``X_tta_pipeline``).
    """
    dataset = cfg.test_dataloader.dataset
    if tta:
        prefix = '' if tta in ('reference', True) else f'{tta}_'
        model_key, pipeline_key = f'{prefix}tta_model', f'{prefix}tta_pipeline'
        if model_key not in cfg or pipeline_key not in cfg:
            schemes = sorted({'reference' if k == 'tta_model' else k[:-len('_tta_model')]
                              for k in cfg.keys() if k.endswith('tta_model')})
            raise KeyError(f'{cfg.filename}: --tta {tta} needs {model_key} and {pipeline_key} in the config; '
                           f'its schemes: {schemes}')
        dataset.pipeline = cfg[pipeline_key]
        cfg[model_key].module = cfg.model
        cfg.model = cfg[model_key]
    if not infos_have_labels(dataset.get('data_root'), dataset.ann_file):
        dataset.pipeline = without_label_loading(dataset.pipeline)
        if submit_dir is None:
            raise ValueError(f'{dataset.ann_file} has no labels (test split): there is nothing to score; '
                             'pass --submit DIR to write the benchmark submission files')
    if submit_dir is not None:
        metric = dict(cfg.get('test_evaluator') or {})
        if metric.get('type') != 'SemanticKittiMetric':
            metric = dict(type='SemanticKittiMetric')
        metric['submission_dir'] = submit_dir
        cfg.test_evaluator = metric
    if show_dir is not None:
        cfg.default_hooks.visualization = dict(type='BEVVisualizationHook', out_dir=show_dir,
                                               interval=show_interval)
    return cfg


def is_complete_checkpoint(path: str) -> bool:
    """Whether ``path`` is a whole ``torch.save`` file: a zip archive whose members all pass their CRC (a run
    killed while writing leaves a truncated one)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (OSError, zipfile.BadZipFile):
        return False


def newest_complete_checkpoint(work_dir: str, log=print) -> Optional[str]:
    """The newest checkpoint of ``work_dir`` that was written completely: the one ``last_checkpoint`` names,
    else the other ``*.pth`` files, newest first; each incomplete one is reported and passed over."""
    candidates = []
    last = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(last):
        with open(last) as f:
            candidates.append(f.read().strip())
    candidates += sorted(glob.glob(osp.join(work_dir, '*.pth')), key=osp.getmtime, reverse=True)
    seen = set()
    for path in candidates:
        if not path or path in seen or not osp.isfile(path):
            continue
        seen.add(path)
        if is_complete_checkpoint(path):
            return path
        log(f'{path}: incomplete checkpoint (the run was probably killed while writing it); resuming from an '
            'older one')
    return None
