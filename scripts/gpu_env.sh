# Source on a GPU machine that lacks the app's packages (the lent device machine has torch, numpy, pytest,
# hypothesis, scipy but no gradio/diffusers/plotly): unpacks .site/*.tar.xz (pure-Python packages + cp312
# wheels, made on a machine with network: see README "Testing on a GPU") into /tmp/site and puts it on PYTHONPATH.
mkdir -p /tmp/site
for f in .site/*.tar.xz; do
  [ -f "/tmp/site/.done-$(basename "$f")" ] || { tar -C /tmp/site -xJf "$f" && touch "/tmp/site/.done-$(basename "$f")"; }
done
export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else '')"
