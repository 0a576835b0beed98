"""Diffusion backend: diffusers (ControlNet) pipelines driven by the Scene's layout.

Modules: `spec` (the recipe's `diffusion:` block, no torch), `conditioning` (layout -> control
images), `loading` (pipelines from hub ids, folders or single files), `backend` (the three modes
and the trust gate). torch and diffusers are imported only by `loading` and `backend`.
"""
