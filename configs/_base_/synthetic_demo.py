# What every *_demo.py changes in the config it demonstrates: the built-in synthetic SemanticKITTI
# (data/synthetic_kitti/, made by tools/run_demo.py or tools/make_synthetic_semantickitti.py), CPU loaders,
# 40 epochs, one validation at the end, frequent logs, and a fixed seed (weights, sampling, augmentation), so two runs
# on one machine print the same mIoU. A demo inherits its config and this file and applies the
# block with `locals().update(_base_.synthetic_demo)` (mmengine refuses two bases defining the same key, so the
# block is one dict that the demo unpacks; its keys then merge into the inherited ones as usual).
synthetic_data_root = 'data/synthetic_kitti/'
demo_epochs = 40
synthetic_loader = dict(num_workers=0, persistent_workers=False, dataset=dict(data_root=synthetic_data_root))
synthetic_demo = dict(
    train_dataloader=dict(synthetic_loader, batch_size=2),
    test_dataloader=synthetic_loader,
    val_dataloader=synthetic_loader,
    train_cfg=dict(max_epochs=demo_epochs, val_interval=demo_epochs),
    default_hooks=dict(logger=dict(interval=8), checkpoint=dict(interval=10, save_best=None)),
    log_processor=dict(window_size=8),
    randomness=dict(seed=0))
# (max_freq / freq) ** (1/3) of the synthetic training sequence's classes (seed 0, 8 frames x 20,000 points),
# from elite.datasets.class_weights; SemanticKITTI's weights do not fit these scenes.
synthetic_class_weight = [1.4257, 2.7502, 17.1192, 17.1192, 17.1192, 4.1638, 17.1192, 17.1192, 1.0, 17.1192,
                          1.1694, 17.1192, 1.2205, 1.9302, 3.2071, 3.7935, 1.3498, 4.33, 17.1192]
# ELiTe at CPU size: the small random-weight SAM encoder (vit_tiny, 64 channels) and its decoders, and the
# synthetic class weights in every head's cross-entropy
synthetic_ce = dict(loss_decode=dict(class_weight=synthetic_class_weight))
tiny_elite = dict(teacher=dict(variant='vit_tiny'), patch_decoder=dict(in_channels=64, channels=32, **synthetic_ce),
                  decode_head=synthetic_ce, auxiliary_head=synthetic_ce, fused_decoder=synthetic_ce)
