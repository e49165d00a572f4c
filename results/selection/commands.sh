# Exact commands that produced the cached CV results behind results/selection/results.md (run in this order,
# one at a time, as: nohup nice -n 10 bash FILE). Env: PYTHONPATH=src HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1.
# Interrupted earlier versions (010, 025, 030, 040) ran subsets of the same (set, mode, candidate, features, fold, seed)
# keys; their finished runs are identical cache entries and were reused.
# Not run: m3gnet-matgl featurization and its Cu runs (time).

# ---- 011_screen
/work/main/.venv/bin/python -m xasflow.cli.main select run --data-dir /work/shared/data/omnixas --cache-dir /work/cache/accuracy/cv \
  --reserved /work/shared/data/reserved --dataset /work/cache/lead/Cu_FEFF_m3gnet.npz \
  --sets Cr_FEFF,Ni_FEFF,Ti_VASP,Cu_VASP --modes expert \
  --candidates reference,improved,residual,pca,pca-deriv,residual-noise \
  --folds 5 --only-folds 0,1,2 --seeds 0

# ---- 020_feat_env
D=/work/cache/accuracy/Cu_FEFF_rich.npz
/usr/bin/time -v /work/main/.venv/bin/python -m xasflow.cli.main data add-features /work/cache/lead/Cu_FEFF_m3gnet.npz \
  --structures /work/shared/data/omnixas/FEFF/Cu --featurizer m3gnet-env --out $D \
  --cache-dir /work/cache/accuracy/featcache 2>&1 | grep -v "it/s" | tail -30
# The blocks matrix is the first 3 x 64 columns of the env matrix (same forward pass): store it under its own name.
/work/main/.venv/bin/python - <<'PYEOF'
from xasflow.data.dataset import XASDataset
from xasflow.features.m3gnet import M3GNetBlocksFeaturizer, featurizer_version, packaged_weights_dir
path = "/work/cache/accuracy/Cu_FEFF_rich.npz"
d = XASDataset.load(path)
env = d.features["m3gnet-env"]
version = featurizer_version(packaged_weights_dir(), "destination") + "/gc1+gc2+gc3"
info = dict(d.metadata["features"]["m3gnet-env"], featurizer="m3gnet-blocks", version=version,
            derived="columns 0:192 of m3gnet-env (identical computation)")
d = d.with_features("m3gnet-blocks", env[:, :192], info=info)
d.save(path)
print({k: v.shape for k, v in d.features.items()})
PYEOF

# ---- 021_feat_matpes
D=/work/cache/accuracy/Cu_FEFF_rich.npz
/usr/bin/time -v /work/main/.venv/bin/python -m xasflow.cli.main data add-features $D \
  --structures /work/shared/data/omnixas/FEFF/Cu --featurizer m3gnet-matpes --models-dir /work/shared/models --out $D \
  --cache-dir /work/cache/accuracy/featcache 2>&1 | grep -v "it/s" | tail -30

# ---- 026_experts
BEST=residual-noise
COMMON="--data-dir /work/shared/data/omnixas --cache-dir /work/cache/accuracy/cv --reserved /work/shared/data/reserved --dataset /work/cache/lead/Cu_FEFF_m3gnet.npz --folds 5 --only-folds 0,1,2 --seeds 0"
/work/main/.venv/bin/python -m xasflow.cli.main select run $COMMON --modes expert --sets Ti_FEFF,V_FEFF,Co_FEFF --candidates reference,$BEST,pca

# ---- 027_screen2
/work/main/.venv/bin/python -m xasflow.cli.main select run --data-dir /work/shared/data/omnixas --cache-dir /work/cache/accuracy/cv \
  --reserved /work/shared/data/reserved --dataset /work/cache/lead/Cu_FEFF_m3gnet.npz \
  --sets Cr_FEFF,Ni_FEFF,Ti_VASP,Cu_VASP --modes expert \
  --candidates pca-noise,residual-noise0.2,residual-noise-logmse \
  --folds 5 --only-folds 0,1,2 --seeds 0

# ---- 031_transfer
BEST=residual-noise
COMMON="--data-dir /work/shared/data/omnixas --cache-dir /work/cache/accuracy/cv --reserved /work/shared/data/reserved --dataset /work/cache/lead/Cu_FEFF_m3gnet.npz --folds 5 --only-folds 0,1 --seeds 0"
# universal + tuned / cross-fidelity: published recipe and the screened best, every set
/work/main/.venv/bin/python -m xasflow.cli.main select run $COMMON --modes universal,tuned --candidates reference,$BEST
# fine-tuning variants on the VASP sets and the val-carved FEFF sets
/work/main/.venv/bin/python -m xasflow.cli.main select run $COMMON --modes tuned --sets Ti_VASP,Cu_VASP,Cr_FEFF,Ni_FEFF,Ti_FEFF,V_FEFF,Co_FEFF \
  --candidates "$BEST|recentre,$BEST|ref-tune"

# ---- 041_cu_repr
BEST=residual-noise
COMMON="--data-dir /work/shared/data/omnixas --cache-dir /work/cache/accuracy/cv --reserved /work/shared/data/reserved --dataset /work/cache/accuracy/Cu_FEFF_rich.npz --folds 5 --seeds 0 --sets Cu_FEFF --modes expert"
/work/main/.venv/bin/python -m xasflow.cli.main select run $COMMON --only-folds 0 --candidates $BEST --features m3gnet,m3gnet-env,m3gnet-blocks,m3gnet-matpes
/work/main/.venv/bin/python -m xasflow.cli.main select run $COMMON --only-folds 1 --candidates reference,$BEST --features m3gnet

# ---- 042_cu_repr_fold1
COMMON="--data-dir /work/shared/data/omnixas --cache-dir /work/cache/accuracy/cv --reserved /work/shared/data/reserved --dataset /work/cache/accuracy/Cu_FEFF_rich.npz --folds 5 --seeds 0 --sets Cu_FEFF --modes expert"
/work/main/.venv/bin/python -m xasflow.cli.main select run $COMMON --only-folds 1 --candidates residual-noise --features m3gnet-blocks,m3gnet-env

# ---- 050_transfer_fold2
BEST=residual-noise
COMMON="--data-dir /work/shared/data/omnixas --cache-dir /work/cache/accuracy/cv --reserved /work/shared/data/reserved --dataset /work/cache/lead/Cu_FEFF_m3gnet.npz --folds 5 --only-folds 2 --seeds 0"
# universal + tuned / cross-fidelity: published recipe and the screened best, every set
/work/main/.venv/bin/python -m xasflow.cli.main select run $COMMON --modes universal,tuned --candidates reference,$BEST
# fine-tuning variants on the VASP sets and the val-carved FEFF sets
/work/main/.venv/bin/python -m xasflow.cli.main select run $COMMON --modes tuned --sets Ti_VASP,Cu_VASP,Cr_FEFF,Ni_FEFF,Ti_FEFF,V_FEFF,Co_FEFF \
  --candidates "$BEST|recentre,$BEST|ref-tune"

# ---- 070_cu_fold2
COMMON="--data-dir /work/shared/data/omnixas --cache-dir /work/cache/accuracy/cv --reserved /work/shared/data/reserved --dataset /work/cache/accuracy/Cu_FEFF_rich.npz --folds 5 --seeds 0 --sets Cu_FEFF --modes expert"
/work/main/.venv/bin/python -m xasflow.cli.main select run $COMMON --only-folds 2 --candidates residual-noise --features m3gnet,m3gnet-env

# ---- 080_folds34 (2026-12-01): folds 3 and 4, seed 0, of every cell above, so that every cell has 5 folds
cd /work/main
export PYTHONPATH=src HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1
PY=/work/main/.venv/bin/python
F=3,4
BASE="--data-dir /work/shared/data/omnixas --cache-dir /work/cache/accuracy/cv --reserved /work/shared/data/reserved --folds 5 --only-folds $F --seeds 0"
M="$BASE --dataset /work/cache/lead/Cu_FEFF_m3gnet.npz"
R="$BASE --dataset /work/cache/accuracy/Cu_FEFF_rich.npz --sets Cu_FEFF --modes expert"
BEST=residual-noise
# chosen and published cells first
$PY -m xasflow.cli.main select run $M --modes universal,tuned --candidates reference,$BEST
$PY -m xasflow.cli.main select run $M --modes expert --sets Ti_FEFF,V_FEFF,Co_FEFF --candidates reference,$BEST,pca
$PY -m xasflow.cli.main select run $M --modes expert --sets Cr_FEFF,Ni_FEFF,Ti_VASP,Cu_VASP --candidates reference,improved,residual,pca,pca-deriv,residual-noise
$PY -m xasflow.cli.main select run $R --candidates reference,$BEST --features m3gnet
$PY -m xasflow.cli.main select run $R --candidates $BEST --features m3gnet-env
$PY -m xasflow.cli.main select run $M --modes tuned --sets Ti_VASP,Cu_VASP,Cr_FEFF,Ni_FEFF,Ti_FEFF,V_FEFF,Co_FEFF --candidates "$BEST|recentre,$BEST|ref-tune"
$PY -m xasflow.cli.main select run $M --modes expert --sets Cr_FEFF,Ni_FEFF,Ti_VASP,Cu_VASP --candidates pca-noise,residual-noise0.2,residual-noise-logmse
$PY -m xasflow.cli.main select run $R --candidates reference --features m3gnet-env

# ---- report + selection
xasflow select report --cache-dir /work/cache/accuracy/cv --out results/selection/results.md --selected src/xasflow/training/selected.json
