#!/usr/bin/env bash
# Deploy the committed HEAD to a Hugging Face Space as one new commit whose binary files are Git LFS objects.
#
#   scripts/push_space.sh https://huggingface.co/spaces/USER/NAME     build the commit and push it
#   scripts/push_space.sh --prepare-only DIR                          build it in DIR/space, push nothing
#
# Why a separate commit: this repository keeps its checkpoints, MNIST archive and pictures as plain git
# objects (so a clone needs no LFS server), and the Hub rejects a push whose history has binaries outside
# LFS/Xet. The commit built here holds the tree of HEAD, with every file that .gitattributes marks
# `filter=lfs` stored as an LFS pointer; its parent is the Space's current main when there is one, so each
# deploy is a fast-forward. Needs git-lfs (Debian/Ubuntu: apt-get install git-lfs; macOS: brew install git-lfs);
# the Hub takes LFS uploads into Xet storage by itself. Log in first (`hf auth login`, or a token in the URL).
set -euo pipefail
root=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
prepare=""
if [ "${1:-}" = "--prepare-only" ]; then prepare=${2:?usage: push_space.sh --prepare-only DIR}; remote=""
else remote=${1:?usage: push_space.sh SPACE_GIT_URL  (or --prepare-only DIR)}; fi
git lfs version >/dev/null 2>&1 || { echo "push_space: git-lfs is not installed (see the comment at the top)" >&2; exit 2; }
[ -z "$(git -C "$root" status --porcelain --untracked-files=no)" ] || echo "push_space: uncommitted changes are not deployed (HEAD is)" >&2

work=${prepare:-$(mktemp -d)}
dir="$work/space"
rm -rf "$dir" && mkdir -p "$dir"
sha=$(git -C "$root" rev-parse --short HEAD)
git -C "$root" archive --format=tar HEAD | tar -x -C "$dir"
cd "$dir"
git init -q -b main
git lfs install --local >/dev/null
if [ -n "$remote" ] && git fetch -q --depth 1 "$remote" main 2>/dev/null; then
  git reset -q --soft FETCH_HEAD  # build on the Space's history: a fast-forward push
fi
git add -A
git -c user.name="${GIT_AUTHOR_NAME:-Diffusion Playground}" -c user.email="${GIT_AUTHOR_EMAIL:-playground@localhost}" \
  commit -q -m "Diffusion Playground at $sha"
echo "push_space: $(git lfs ls-files | wc -l) files in LFS, commit $(git rev-parse --short HEAD) in $dir"
[ -n "$remote" ] || exit 0
git push "$remote" HEAD:main
