"""The demo models' training scripts (``python -m mmgen.demo.training.train_<name>``), their
shared loop (`loop.fit`) and speech scoring. They import the library; the library never imports them."""
