"""Features: extraction (decode, per-clip augmentation, encoder forward, pooling) and the feature store, the cache
boundary between computing features and classifying them."""
