"""Figures drawn from run files and benchmark tables (never from a training in progress).

One module per kind of picture: :mod:`.fields` (error field on a 2-D slice of the ball),
:mod:`.errors` (radial error profile, error histogram), :mod:`.curves` (training curves),
:mod:`.activations`, :mod:`.similarity`, :mod:`.prompts` (what a KAN / MetaKAN learned),
:mod:`.parity` (regression), :mod:`.benchmarks` (memory and Laplacian tables). Each module's
``draw_*`` function returns a :class:`matplotlib.figure.Figure` made without pyplot, so nothing
here touches a global backend or opens a window; :mod:`pinnkan.plot` chooses and saves them.
"""
