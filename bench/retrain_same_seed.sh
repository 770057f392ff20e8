#!/bin/bash
# Retrain one model per app on the same seed; $1 = tag (before|after); run from a worktree root.
set -u
TAG=$1; D=/work/shared/data; O=/tmp/figs-$TAG; mkdir -p $O
export HF_HUB_OFFLINE=1 PYTHONPATH=. TQDM_DISABLE=1
PY=/work/main/.venv/bin/python
T="$PY -m shared.cli"
s=$(date +%s)
$T cs train --intents $D/banking77/train.csv --validation $D/banking77/validation.csv --mode fast --seed 0 --out $O/cs > $O/cs_train.log 2>&1
$T cs evaluate --model $O/cs --data $D/banking77/validation.csv > /work/figs/$TAG-cs.json 2>$O/cs_eval.log
echo "cs $(( $(date +%s)-s ))s" >> /work/figs/$TAG-times.txt; s=$(date +%s)
$T finance train --train $D/financial_phrasebank/train.csv --validation $D/financial_phrasebank/validation.csv --mode fast --seed 0 --no-onnx --out $O/fin > $O/fin_train.log 2>&1
$T finance evaluate --model $O/fin --data $D/financial_phrasebank/validation.csv > /work/figs/$TAG-fin.json 2>$O/fin_eval.log
echo "fin $(( $(date +%s)-s ))s" >> /work/figs/$TAG-times.txt; s=$(date +%s)
$T rec train --movielens $D/movielens_latest_small --train $D/movielens_latest_small/ratings_train.csv --seed 0 --no-fine-tune --out $O/rec > $O/rec_train.log 2>&1
$T rec evaluate --model $O/rec --movielens $D/movielens_latest_small --train $D/movielens_latest_small/ratings_train.csv --test $D/movielens_latest_small/ratings_validation.csv --seed 0 --json --no-baselines > /work/figs/$TAG-rec.json 2>$O/rec_eval.log
echo "rec $(( $(date +%s)-s ))s" >> /work/figs/$TAG-times.txt
