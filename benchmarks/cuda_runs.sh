#!/bin/bash
# The runs made on a lent NVIDIA H200 (16 CPU cores, PyTorch 2.11.0+cu130) at commit f6fa47e, 2026-11-27, from the
# repository root with $OUT a fresh folder and the data of ../shared/data beside it. Their ledgers, merged, are
# results/adacl-fmnist-cuda.jsonl, results/oled-mnist-studies-cuda.jsonl, results/speed-cuda.jsonl and the suite's
# log results/suite-cuda.log.
#
# At that commit OLED's defaults were mask_gradient=eq2, mask_update_every=1, val_size=150 and bench drew no
# validation set by itself: the variants below without those --set items ran with them. Under the current defaults,
# name them explicitly to repeat a variant (docs/methods.md, OLED, lists every variant with its settings). Training
# was fp32 unless a line names bf16; the default precision is now auto (bf16 on such a GPU), so add --precision fp32.
set -u
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1
B="python3 -m oneclass.cli bench --device cuda --data-root ../shared/data"

# issue 24: the ADACL 10-class sweep (paper preset, Fashion-MNIST one-vs-rest) in fp32 and bf16, and the suite
$B --methods adacl --dataset fashion-mnist --precision fp32 --workers 10 --out $OUT/adacl-fmnist-cuda.jsonl
python3 -m pytest -q -p no:cacheprovider --durations=15 > $OUT/suite.log 2>&1
$B --methods adacl --dataset fashion-mnist --precision bf16 --workers 4 --out $OUT/adacl-fmnist-cuda.jsonl
python3 benchmarks/train_speed.py --device cuda --images 8192 --layouts channels_last --out $OUT/speed-cuda.jsonl

# issue 25: OLED on MNIST under the MemAE protocol, fast preset, 10 digits x 3 seeds per variant
O="--methods oled --preset fast --dataset mnist --protocol memae --seeds 0,1,2 --workers 4"
ST="--set mask_gradient=straight-through"
RULE="--set val_normal=150 --set val_outliers=150"
$B $O --out $OUT/oled-mnist-studies-cuda.jsonl                                            # eq. 2, R-objective rule
$B $O $ST --out $OUT/oled-mnist-studies-cuda.jsonl                                        # straight-through
$B $O $ST $RULE --out $OUT/oled-mnist-studies-cuda.jsonl                                  # + the paper's rule
$B $O $RULE --out $OUT/oled-mnist-studies-cuda.jsonl                                      # eq. 2 + the paper's rule
$B $O $ST $RULE --set gamma=8 --out $OUT/oled-mnist-studies-cuda.jsonl                    # γ as the authors' code
$B $O $ST $RULE --set mask_update_every=3 --out $OUT/oled-mnist-studies-cuda.jsonl        # MG every 3rd epoch
$B $O $RULE --set masking=random --out $OUT/oled-mnist-studies-cuda.jsonl                 # the CAE ablation
$B $O $ST --set mask_update_every=3 --out $OUT/oled-mnist-studies-cuda.jsonl              # without outliers: R objective
$B $O $ST --set mask_update_every=3 --set val_size=0 --out $OUT/oled-mnist-studies-cuda.jsonl  # ... or the last epoch
