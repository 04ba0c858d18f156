"""The routing dev set: prompts of every kind, labelled by whether a small
local model (SmolLM2-135M) gets them wrong. See docs/routing.md."""
