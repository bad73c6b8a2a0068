"""PaperChat's web chat (Gradio)."""
