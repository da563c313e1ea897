"""Training and export of the forecasting models into the Triton model repository.

Run it as ``hybrid-inference export {lstm,moving-average,all}``. Each version folder
gets its artifact (TorchScript or ONNX, checked against the eager model), its
``params.json`` and a regenerated ``config.pbtxt`` listing every version present.

Modules: ``data`` (the CO2 series, chronological split, windows), ``model`` (torch
modules), ``hyperparameters`` and ``training``, ``backtest`` (held-out scores, residual
spread), ``artifacts`` (save and check TorchScript/ONNX), ``triton_config`` (typed spec
-> ``ModelConfig``, read/write ``config.pbtxt``), ``repository`` (version folders),
``pipeline`` (one export end to end), ``plan`` (the committed repository), ``errors``, ``cli``.
"""
