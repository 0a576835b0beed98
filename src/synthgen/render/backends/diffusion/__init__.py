"""Diffusion backend: diffusers (ControlNet) pipelines driven by the Scene's layout.

The recipe's `diffusion:` block is `synthgen.recipe.diffusion` (no torch). Modules here: `conditioning` (layout -> control
images), `loading` (pipelines from hub ids, folders or single files), `backend` (the three modes
and the trust gate). torch and diffusers are imported only by `loading` and `backend`.
"""
