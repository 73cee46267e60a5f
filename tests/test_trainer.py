"""The shared trainer and the estimator base class."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn.base
import sklearn.exceptions
import torch

from eelswidgets.models import trainer as tr
from eelswidgets.models.base import BaseModel, NotFittedError
from eelswidgets.models.trainer import StopTraining, Trainer, resolve_device, seed_everything

pytestmark = pytest.mark.usefixtures("one_thread")


def _regression(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    w = torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    return x, x @ w + 0.01 * torch.randn(n, 1, generator=g)


def _mse(module, batch):
    x, y = batch
    return ((module(x) - y) ** 2).mean()


class Scheduled(torch.nn.Module):
    """A module whose loss follows a given per-epoch schedule; p drifts towards the epoch."""

    def __init__(self):
        super().__init__()
        self.p = torch.nn.Parameter(torch.zeros(()))


def _scheduled_loss(trainer, schedule):
    def loss_fn(module, batch):
        target = float(trainer.epoch)
        return schedule[trainer.epoch] + 1e-3 * (module.p - target) ** 2 + 0 * batch[0].sum()
    return loss_fn


class Recorder:
    def __init__(self):
        self.begin = None
        self.epochs = []
        self.end = None
        self.p = []

    def on_train_begin(self, trainer, info):
        self.begin = dict(info)

    def on_epoch_end(self, trainer, info):
        self.epochs.append(dict(info))
        if hasattr(trainer.module, "p"):
            self.p.append(float(trainer.module.p.detach()))

    def on_train_end(self, trainer, info):
        self.end = info


def test_fit_learns_and_reports_history():
    x, y = _regression()
    net = torch.nn.Linear(4, 1)
    rec = Recorder()
    hist = Trainer(epochs=40, batch_size=32, lr=0.05, progress=False, callbacks=[rec]).fit(
        net, (x, y), _mse)
    assert hist["epochs_run"] == 40 and len(hist["loss"]) == 40 and len(hist["seconds"]) == 40
    assert hist["val_loss"] == [] and hist["n_val"] == 0 and hist["n_train"] == 256
    assert hist["loss"][-1] < 0.01 * hist["loss"][0]
    assert torch.allclose(net.weight, torch.tensor([[1.0, -2.0, 0.5, 3.0]]), atol=0.05)
    assert rec.begin["epochs"] == 40 and rec.begin["n_train"] == 256
    assert [e["epoch"] for e in rec.epochs] == list(range(1, 41))
    assert rec.epochs[-1]["eta"] == 0.0 and rec.epochs[0]["eta"] > 0
    assert rec.epochs[5]["val_loss"] is None
    assert rec.end is hist and not net.training
    assert hist["stop_reason"] == "completed" and hist["best_epoch"] is not None


def test_validation_split_and_early_stopping_restores_best():
    net = Scheduled()
    trainer = Trainer(epochs=20, batch_size=8, lr=0.1, patience=2, progress=False)
    rec = Recorder()
    trainer.callbacks = (rec,)
    schedule = [5.0, 4.0, 3.0, 3.5, 3.6, 3.7] + [1.0] * 14
    x = torch.zeros(32, 1)
    hist = trainer.fit(net, (x,), _scheduled_loss(trainer, schedule))
    # best epoch 3, then two epochs without improvement -> stop after epoch 5
    assert hist["stopped_early"] and hist["stop_reason"] == "early_stopping"
    assert hist["epochs_run"] == 5 and hist["best_epoch"] == 3
    assert float(net.p.detach()) == pytest.approx(rec.p[2])     # the weights of epoch 3
    assert float(net.p.detach()) != pytest.approx(rec.p[-1])


def test_validation_loss_is_monitored():
    x, y = _regression(200)
    net = torch.nn.Linear(4, 1)
    hist = Trainer(epochs=3, batch_size=50, val_fraction=0.25, progress=False).fit(
        net, (x, y), _mse)
    assert hist["n_val"] == 50 and hist["n_train"] == 150
    assert len(hist["val_loss"]) == 3
    assert hist["best_loss"] == pytest.approx(min(hist["val_loss"]))


def test_seeding_gives_identical_weights():
    x, y = _regression()

    def run(seed):
        seed_everything(seed)
        net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
        Trainer(epochs=3, batch_size=16, seed=seed, progress=False).fit(net, (x, y), _mse)
        return torch.cat([p.detach().flatten() for p in net.parameters()])

    a, b, c = run(3), run(3), run(4)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_request_stop_from_callback_keeps_best_weights():
    x, y = _regression()
    net = torch.nn.Linear(4, 1)

    class StopAt3(Recorder):
        def on_epoch_end(self, trainer, info):
            super().on_epoch_end(trainer, info)
            if info["epoch"] == 3:
                trainer.request_stop()

    rec = StopAt3()
    hist = Trainer(epochs=50, batch_size=32, lr=0.05, progress=False, callbacks=[rec]).fit(
        net, (x, y), _mse)
    assert hist["epochs_run"] == 3 and hist["stop_requested"] and not hist["interrupted"]
    assert hist["stop_reason"] == "stop_requested" and rec.end is hist
    assert hist["best_epoch"] == 3
    with torch.no_grad():  # the model is usable: its loss is that of the best epoch
        assert float(_mse(net, (x, y))) < hist["loss"][0]


def test_stop_training_exception_from_callback():
    x, y = _regression()

    class Raise:
        def on_epoch_end(self, trainer, info):
            if info["epoch"] == 2:
                raise StopTraining

    hist = Trainer(epochs=10, batch_size=64, progress=False, callbacks=[Raise()]).fit(
        torch.nn.Linear(4, 1), (x, y), _mse)
    assert hist["epochs_run"] == 2 and hist["stop_requested"]


def test_keyboard_interrupt_inside_an_epoch_stops_cleanly():
    net = Scheduled()
    trainer = Trainer(epochs=10, batch_size=4, lr=0.1, progress=False)
    rec = Recorder()
    trainer.callbacks = (rec,)
    calls = {"n": 0}
    base = _scheduled_loss(trainer, [3.0, 2.0, 2.5] + [9.0] * 7)

    def loss_fn(module, batch):
        if trainer.epoch == 3:
            calls["n"] += 1
            if calls["n"] == 3:          # in the middle of epoch 4
                raise KeyboardInterrupt
        return base(module, batch)

    with pytest.warns(RuntimeWarning, match="interrupted"):
        hist = trainer.fit(net, (torch.zeros(32, 1),), loss_fn)
    assert hist["interrupted"] and hist["stop_reason"] == "interrupted"
    assert hist["epochs_run"] == 3 and hist["best_epoch"] == 2
    assert float(net.p.detach()) == pytest.approx(rec.p[1])        # weights of the best epoch
    assert not net.training and rec.end is hist


def test_nan_loss_raises_after_restoring_best():
    net = Scheduled()
    trainer = Trainer(epochs=5, batch_size=8, progress=False)
    loss = _scheduled_loss(trainer, [2.0, 1.0, float("nan"), 1.0, 1.0])
    with pytest.raises(FloatingPointError, match="lower lr"):
        trainer.fit(net, (torch.zeros(16, 1),), loss)


def test_lazy_dataset_is_gathered_per_batch():
    x, y = _regression(100)

    class Lazy:
        def __init__(self):
            self.sizes = []

        def __len__(self):
            return 100

        def get_batch(self, idx):
            assert idx.dtype == torch.long
            self.sizes.append(len(idx))
            return x[idx], y[idx]

    lazy = Lazy()
    hist = Trainer(epochs=2, batch_size=30, progress=False).fit(torch.nn.Linear(4, 1), lazy,
                                                                 _mse)
    assert hist["epochs_run"] == 2
    assert lazy.sizes == [30, 30, 30, 10] * 2


def test_streamed_dataset_chooses_its_order_and_split():
    x, y = _regression(90)

    class Streamed:
        """Three 'chunks' of 30 samples; the last one is held out for validation."""

        def __init__(self):
            self.train_orders, self.val_calls = [], 0

        def split(self, val_fraction, gen):
            assert val_fraction == 0.3
            return [0, 1], [2]

        def train_batches(self, part, batch_size, gen):
            order = [part[i] for i in torch.randperm(len(part), generator=gen)]
            self.train_orders.append(order)
            for c in order:
                for s in range(0, 30, batch_size):
                    idx = torch.arange(30 * c + s, min(30 * c + s + batch_size, 30 * c + 30))
                    yield x[idx], y[idx]

        def val_batches(self, part, batch_size):
            self.val_calls += 1
            yield x[60:], y[60:]

    def fit(seed):
        data = Streamed()
        torch.manual_seed(1)
        net = torch.nn.Linear(4, 1)
        hist = Trainer(epochs=6, batch_size=16, lr=0.05, seed=seed, val_fraction=0.3,
                       progress=False).fit(net, data, _mse)
        return data, net, hist

    data, net, hist = fit(0)
    # the parts' lengths are what the trainer counts (2 chunks, 1 chunk here)
    assert (hist["n_train"], hist["n_val"]) == (2, 1) and data.val_calls == 6
    assert len(hist["val_loss"]) == 6 and hist["val_loss"][-1] < hist["val_loss"][0]
    assert {tuple(o) for o in data.train_orders} == {(0, 1), (1, 0)}   # seeded order varies
    again, net2, _ = fit(0)
    assert again.train_orders == data.train_orders and torch.equal(net.weight, net2.weight)


def test_devices():
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available()
                                                  else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    assert Trainer(device="auto", progress=False).device.type in ("cpu", "cuda")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            Trainer(device="cuda")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")
    with pytest.raises(TypeError):
        resolve_device(3)


def test_bad_arguments():
    with pytest.raises(ValueError, match="epochs"):
        Trainer(epochs=0)
    with pytest.raises(ValueError, match="val_fraction"):
        Trainer(val_fraction=1.0)
    with pytest.raises(ValueError, match="lr"):
        Trainer(lr=-1)
    with pytest.raises(ValueError, match="progress"):
        Trainer(progress="fancy").fit(torch.nn.Linear(1, 1), (torch.zeros(4, 1),),
                                      lambda m, b: m(b[0]).mean())
    with pytest.raises(ValueError, match="same number of samples"):
        Trainer(progress=False).fit(torch.nn.Linear(4, 1), (torch.zeros(4, 4),
                                                           torch.zeros(5, 1)), _mse)
    with pytest.raises(TypeError, match="get_batch"):
        Trainer(progress=False).fit(torch.nn.Linear(4, 1), "data", _mse)


def test_bad_trainer_options_are_refused_by_the_shared_rules():
    for kwargs, kind in [({"epochs": 1.5}, TypeError), ({"batch_size": 0}, ValueError),
                         ({"lr": float("nan")}, ValueError), ({"seed": -1}, ValueError),
                         ({"patience": 0}, ValueError), ({"val_fraction": "0.1"}, TypeError),
                         ({"weight_decay": -1e-3}, ValueError), ({"min_delta": -1}, ValueError),
                         ({"restore_best": "yes"}, TypeError), ({"device": "tpu"}, ValueError)]:
        name = next(iter(kwargs))
        with pytest.raises(kind, match=f"Trainer: {name}"):
            Trainer(**kwargs)


# ----------------------------------------------------------------------------- fit's steps
def test_split_samples_is_seeded_disjoint_and_keeps_a_training_sample():
    def split(n, vf, seed=0):
        return tr.split_samples(n, vf, torch.Generator().manual_seed(seed))

    train, val = split(10, 0.25)
    assert len(val) == 2 and len(train) == 8           # round(2.5) == 2
    assert sorted(torch.cat([train, val]).tolist()) == list(range(10))
    assert all(torch.equal(a, b) for a, b in zip(split(10, 0.25), (train, val), strict=True))
    assert not torch.equal(split(10, 0.25, seed=1)[1], val)
    assert len(split(10, 0.01)[1]) == 1                # a positive fraction holds out one
    assert len(split(10, 0.0)[1]) == 0
    with pytest.raises(ValueError, match="leaves no training samples"):
        split(1, 0.5)
    with pytest.raises(ValueError, match="no training samples"):
        split(0, 0.0)


def test_record_keeps_the_best_epoch_counts_patience_and_notes_divergence():
    net = torch.nn.Linear(1, 1)
    rec = tr._Record(n_train=4, n_val=0, device=torch.device("cpu"), patience=2,
                     min_delta=0.1)
    assert rec.add(1, 1.0, None, 0.5, net) and rec.history["best_epoch"] == 1
    best = {k: v.clone() for k, v in net.state_dict().items()}
    with torch.no_grad():
        net.weight.add_(1.0)
    assert rec.add(2, 0.95, None, 1.5, net)            # better, but by less than min_delta
    assert rec.history["best_epoch"] == 1 and not rec.patience_exhausted
    info = rec.epoch_info(epochs=5)
    assert (info["epoch"], info["loss"], info["val_loss"], info["eta"]) == (2, 0.95, None, 3.0)
    assert rec.add(3, 2.0, None, 1.0, net) and rec.patience_exhausted
    assert all(torch.equal(rec.best_state[k], v) for k, v in best.items())
    assert not rec.add(4, float("inf"), None, 1.0, net)
    assert rec.diverged_epoch == 4 and rec.history["epochs_run"] == 3
    err = rec.divergence(lr=0.5)
    assert isinstance(err, tr.TrainingDiverged) and err.epoch == 4 and err.best_epoch == 1
    assert "epoch (1) were restored" in str(err) and "lower lr (now 0.5)" in str(err)
    rec.stop("interrupted")
    assert rec.history["interrupted"] and rec.history["stop_reason"] == "interrupted"


def test_epoch_passes_once_over_the_training_samples_then_validates():
    seen = []

    def loss_fn(module, batch):
        seen.append(batch[0][:, 0].tolist())
        return module(batch[0]).pow(2).mean()

    trainer = Trainer(batch_size=3, progress=False, device="cpu")
    net = torch.nn.Linear(1, 1)
    opt = trainer._optimizer(net)
    data = tr._dataset(torch.arange(8.0)[:, None], trainer.device)
    split = (torch.tensor([0, 2, 4, 6, 7]), torch.tensor([1, 3]))
    loss, val_loss = trainer._epoch(net, data, split, opt, loss_fn, torch.Generator())
    train_seen = sorted(v for batch in seen[:2] for v in batch)
    assert [len(b) for b in seen] == [3, 2, 2] and train_seen == [0.0, 2.0, 4.0, 6.0, 7.0]
    assert sorted(seen[2]) == [1.0, 3.0] and net.training
    with torch.no_grad():
        expected = float(net(torch.tensor([[1.0], [3.0]])).pow(2).mean())
    assert loss > 0 and val_loss == pytest.approx(expected)
    trainer.request_stop()
    with pytest.raises(StopTraining):
        trainer._epoch(net, data, split, opt, loss_fn, torch.Generator())


def test_finish_restores_the_best_weights_and_calls_on_train_end():
    net = torch.nn.Linear(1, 1)
    rec = tr._Record(n_train=4, n_val=0, device=torch.device("cpu"), patience=None,
                     min_delta=0.0)
    rec.add(1, 1.0, None, 0.1, net)
    best = {k: v.clone() for k, v in net.state_dict().items()}
    with torch.no_grad():
        net.weight.add_(1.0)
    ends = Recorder()
    assert Trainer(progress=False)._finish(net, rec, [ends]) is rec.history is ends.end
    assert all(torch.equal(net.state_dict()[k], v) for k, v in best.items())
    rec.add(2, float("nan"), None, 0.1, net)
    with pytest.raises(tr.TrainingDiverged, match="epoch 2"):
        Trainer(progress=False)._finish(net, rec, [])
    assert rec.history["stop_reason"] == "diverged"


def test_fit_leaves_the_callers_global_generators_alone():
    x, y = _regression(64)
    net = torch.nn.Linear(4, 1)
    np_before, torch_before = np.random.get_state()[1].copy(), torch.get_rng_state()  # noqa: NPY002
    Trainer(epochs=2, seed=5, val_fraction=0.25, progress=False).fit(net, (x, y), _mse)
    assert np.array_equal(np.random.get_state()[1], np_before)  # noqa: NPY002
    assert torch.equal(torch.get_rng_state(), torch_before)


def test_progress_hook_used_in_notebook(monkeypatch):
    made = []

    class Live(Recorder):
        pass

    def factory(trainer):
        made.append(Live())
        return made[-1]

    from eelswidgets import _progress

    monkeypatch.setattr(_progress, "_FACTORIES", [])
    tr.register_progress_factory(factory)
    monkeypatch.setattr(tr, "_in_notebook", lambda: True)
    x, y = _regression(64)
    Trainer(epochs=2, progress="auto").fit(torch.nn.Linear(4, 1), (x, y), _mse)
    assert len(made) == 1 and len(made[0].epochs) == 2 and made[0].end is not None
    monkeypatch.setattr(tr, "_in_notebook", lambda: False)   # terminal: tqdm, not the widget
    assert isinstance(tr._progress_callback("auto", None), tr._TqdmProgress)
    assert tr._progress_callback(False, None) is None
    tr.register_progress_factory(None)
    assert _progress.progress_factories() == []


def test_tqdm_progress_runs(capsys):
    x, y = _regression(64)
    Trainer(epochs=2, progress=True).fit(torch.nn.Linear(4, 1), (x, y), _mse)
    assert "2/2" in capsys.readouterr().err


# ----------------------------------------------------------------------------- base class
class Toy(BaseModel):
    def __init__(self, *, width=3, epochs=2, seed=0, lr=1e-2, device="cpu"):
        self.width = width
        self.epochs = epochs
        self.seed = seed
        self.lr = lr
        self.device = device

    def _build_module(self):
        return torch.nn.Linear(self.state_["n_in"], self.width)

    def fit(self, x):
        x = torch.as_tensor(np.asarray(x, np.float32))
        self.state_ = {"n_in": x.shape[1]}
        return self._train((x,), lambda m, b: m(b[0]).pow(2).mean(), progress=False)


def test_base_model_params_repr_and_clone():
    m = Toy(width=5)
    assert m.get_params() == {"device": "cpu", "epochs": 2, "lr": 1e-2, "seed": 0,
                              "width": 5}
    assert repr(m) == "Toy(width=5)"
    assert m.set_params(width=7) is m and m.width == 7
    with pytest.raises(ValueError, match="no parameter 'depth'"):
        m.set_params(depth=1)
    c = sklearn.base.clone(m)
    assert c is not m and c.get_params() == m.get_params()
    trainer = m._make_trainer()
    assert (trainer.epochs, trainer.lr, trainer.batch_size) == (2, 1e-2, 128)  # 128: Trainer's
    m.set_params(epochs=0)
    with pytest.raises(ValueError, match="Trainer: epochs"):
        m._make_trainer()


def test_not_fitted_error_and_fit_sets_attributes():
    m = Toy()
    with pytest.raises(NotFittedError, match="not fitted yet"):
        m._check_fitted()
    assert issubclass(NotFittedError, sklearn.exceptions.NotFittedError)
    assert m.fit(np.ones((10, 2))) is m
    m._check_fitted()
    assert m.history_["epochs_run"] == 2 and not m.module_.training
    assert m._trainer is None


def test_package_root_shows_the_monitor_in_a_notebook_without_importing_widgets():
    """``import eelswidgets`` alone wires fit(progress="auto") to the TrainingMonitor."""
    import subprocess
    import sys

    code = (
        "import sys, eelswidgets as ew\n"
        "from eelswidgets._progress import progress_factories\n"
        "assert 'torch' not in sys.modules and 'eelswidgets.widgets' not in sys.modules\n"
        "cb = progress_factories()[0](None)\n"
        "from eelswidgets.widgets import TrainingMonitor\n"
        "assert isinstance(cb, TrainingMonitor)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr
