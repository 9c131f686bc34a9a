"""``trainer.enable_progress_bar=false`` alone turns the bar off, although the default callbacks
group brings a TQDMProgressBar (Lightning refuses that pair with a MisconfigurationException)."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint, TQDMProgressBar
from lightning_fabric.utilities.exceptions import MisconfigurationException

from rlhfkit.stages.lifecycle import without_progress_bars


def test_enable_progress_bar_false_drops_the_callbacks_bar(tmp_path):
    bar, checkpoint = TQDMProgressBar(), ModelCheckpoint(dirpath=tmp_path)
    with pytest.raises(MisconfigurationException):  # what users hit before
        pl.Trainer(enable_progress_bar=False, callbacks=[bar, checkpoint], logger=False)
    kept = without_progress_bars([bar, checkpoint], False)
    assert kept == [checkpoint]
    trainer = pl.Trainer(enable_progress_bar=False, callbacks=kept, logger=False, default_root_dir=tmp_path)
    assert trainer.progress_bar_callback is None
    assert without_progress_bars([bar, checkpoint], True) == [bar, checkpoint]  # a bar wanted: kept
