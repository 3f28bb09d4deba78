"""Postprocessing of finished images (the Extras tab): upscaling; face restoration later."""
