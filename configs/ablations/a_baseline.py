# Table II row a: the student alone (62.6 val mIoU in the paper).
_base_ = ['../spvcnnlite_semantickitti.py']
