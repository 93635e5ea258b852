# Table II row k: AdaLoRA teacher, token cut, upscale-interpolate decoders, multi-stage KD (66.2).
_base_ = ['../elite_semantickitti.py']
