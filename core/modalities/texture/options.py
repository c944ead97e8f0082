"""The texture family's model options: their defaults (each with what it does and what it
measured), their allowed values, and what runs saved before an option existed meant by its
absence. Data only; ``family.py`` checks a run's options against these."""

from __future__ import annotations

from typing import Any

DEFAULTS: dict[str, Any] = {
    "local_dim": 32,
    "global_dim": 32,
    "base": 128,
    #: generator upsampling stages: a latent cell per 2^stages pixels. 3 (8 px) since session 10:
    #: at 8 minutes on six held-out photos it beat 16 px on five (ihc equal) and ended hubble's
    #: collapse, at ~12% fewer steps a minute (benchmarks/RESULTS.md)
    "stages": 3,
    "min_width": 16,
    "d_base": 32,
    "d_depth": 4,
    #: per-pixel noise maps added at every generator resolution (carried as extra z_local
    #: channels, see model.py); 0: none, the coarse latent alone decides fine detail
    "noise_dim": 1,
    #: standard deviation of the noise maps' strengths at initialisation (0: start without grain,
    #: as StyleGAN does; tried, not better here: RESULTS.md)
    "noise_init": 0.1,
    #: learning-rate multiplier of the noise maps' strengths: Adam moves every weight by about the
    #: learning rate a step, so a strength of 0.1 changes 2-6x slower, relatively, than the 3x3
    #: convs' weights (an equalised learning rate, as StyleGAN's, would make them equal); tried
    #: at 10, no change (RESULTS.md)
    "noise_lr": 1.0,
    #: weight of the texture-statistics term in G's loss (0: adversarial loss only)
    "stats_weight": 1.0,
    #: whose features the statistics term compares, beside the pixels: "discriminator" (D's own
    #: layers: learned, they sharpen as D learns what tells real from fake) or "random" (a fixed-
    #: seed random CNN; its statistics are met by smooth Turing-pattern blobs, see RESULTS.md) or
    #: "pixels" (the pixel scales below and nothing else)
    "stats_features": "discriminator",
    #: with "random" features: draw the random filters afresh every step (seeded by the step)
    #: rather than once: one fixed filter bank has a preferred orientation the generator copies
    "stats_redraw": True,
    #: pixel scales in the statistics term: the colours of the image and of 2×, 4×, ... average-
    #: pooled copies (1: full resolution only). Meant against grain (a colour histogram alone is
    #: met by scattering the right colours); tried, mixed on the tuning photos: RESULTS.md
    "stats_scales": 1,
    #: what those scales are: "gaussian" (the image and its pooled copies) or "laplacian" (band-
    #: pass levels, each normalised by the real batch's spread in that band: Heeger & Bergen's
    #: subband histograms)
    "stats_pyramid": "gaussian",
    #: neighbourhood compared at each pixel scale: 1 (single colours) or k (k×k patches as one
    #: vector: the patch distribution of Kwatra et al. 2005 / GPDM, Elnekave & Weiss 2022)
    "stats_patch": 1,
    #: DiffAugment ops on D's inputs (of "color", "cutout", "translate"; none by default).
    #: Measured: colour shifts and cutout rectangles on a sparse texture (bright objects on a dark
    #: ground) drove the generator to scattered specks; without them it made the objects
    #: (RESULTS.md). Augmentation is a trick for sets of a few hundred images; a texture set is
    #: thousands of overlapping crops of a photo.
    "augment": [],
    #: real crops the statistics term compares the fakes with (the D batch topped up from the
    #: photo; 0: the D batch alone). Against one small batch the term's optimum is the batches'
    #: *average* distribution (in 1-D, the mean of their quantile functions), narrower than the
    #: photo's. Tried at 64 with the discriminator's features: worse, D runs away from a steady
    #: target (RESULTS.md, session 10); meant for the random or pixel features
    "stats_reference": 0,
    #: real crops the *pixel* levels of the statistics term compare the fakes with (0: as
    #: ``stats_reference``); the discriminator's features still see the D batch. The average of
    #: small batches' quantile functions is thinner in the tails than the photo's, so against
    #: the D batch alone a photo's rare regions (hubble's few large galaxies, coffee's white cup)
    #: are asked for less often than they occur; a reference of many crops asks for them in the
    #: photo's proportion every step, without the steady target that D ran away from. Tried at
    #: 64 on the patchwork tuning image (3,000 steps, session 18): no difference one evaluation
    #: seed separates, ~2% slower; at 30 minutes (session 19) no help against coffee's drift
    #: (0.158 against 0.151), hubble 0.075 against 0.087 at one seed: off (RESULTS.md)
    "pixel_reference": 0,
    #: R1's γ relative to the photo's contrast: 0 (off) or a reference pixel std s; γ is scaled by
    #: min(1, (photo's std / s)²). R1 penalises D's input gradient, and telling apart textures
    #: whose pixels differ by little needs a steep D: at γ 1 a low-contrast photo (retina, std
    #: 0.046) kept D at chance (loss_d = ln 4) for 30 minutes. Only lowers γ. Measured at 0.2 on
    #: retina and hubble: D stayed at chance on both (RESULTS.md, session 11), so it is off
    "r1_contrast": 0.0,
    #: images per minibatch-std group in D (0: none): D sees how much the crops of a batch differ,
    #: against a generator that draws one region of the photo for every global latent. Measured
    #: at 4 on the six benchmark photos (session 14): better at 30 minutes on coffee, astronaut and
    #: hubble, worse on rocket (its rare lit tower drawn as often as the sky), retina and ihc;
    #: fewer 30-minute targets met, so off (RESULTS.md)
    "d_mbstd": 0,
    #: latent cells per independent global latent (0: one global latent per texture). A field
    #: (core/fields.py) lets one texture hold several of the photo's regions, with boundaries a
    #: patch discriminator sees in its crops, instead of one region per texture. 4 (32 px at
    #: stages=3) since session 15: at 8 minutes it met the target on five of the six benchmark
    #: photos against four, and every seed's texture holds the photo's mix (RESULTS.md)
    "global_cell": 4,
    #: discriminators, one per scale: the crop, then 2×, 4×, ... average-pooled copies of it (1:
    #: the single patch discriminator). A pooled copy's D sees the whole crop, so the layout of
    #: the photo's regions at the crop's scale (the coarsest level of the benchmark's SWD, where
    #: every photo missed most in session 15) is judged by something. At most: a small crop gets
    #: only the scales it can be pooled to (each D needs 2^d_depth px). Measured at 3 on the six
    #: benchmark photos (session 16): ~12% fewer steps a minute, the coarsest level worse on four
    #: of six at 30 minutes; targets met 4 + 4 of 6 at 8 + 30 minutes against 5 + 3: not more, so
    #: 1 until a second training seed decides (RESULTS.md)
    "d_scales": 1,
    #: weight of the LeCam term in D's loss (0: off): D's real and fake logits held within each
    #: other's moving averages (Tseng et al. 2021, limited-data GANs). Over a long run on a photo
    #: whose crops differ (coffee) D pulls ahead — loss_d 1.36 at the start, 0.95 after 5,000
    #: steps — and the texture drifts off what it had at 8 minutes; this bounds that run-away.
    #: Where D sits at chance (hubble) the term is near zero: real and fake logits barely part.
    #: Measured at 0.1 (session 19, 30 minutes, one seed): coffee's drift gone (0.151 -> 0.106,
    #: under its target for the first time), astronaut worse (0.088 -> 0.123, finer levels):
    #: a trade, so off until more photos and seeds decide (RESULTS.md)
    "lecam": 0.0,
}


#: allowed range of each size option: wide enough for any real model, narrow enough that a typo
#: (base=1000000) is refused instead of allocating terabytes
SIZE_LIMITS: dict[str, tuple[int, int]] = {
    "local_dim": (1, 1024), "global_dim": (1, 1024), "base": (1, 2048), "stages": (1, 6),
    "min_width": (1, 1024), "d_base": (1, 1024), "d_depth": (1, 8), "noise_dim": (0, 4),
    "stats_scales": (1, 6), "stats_patch": (1, 9), "stats_reference": (0, 1024), "pixel_reference": (0, 1024), "d_mbstd": (0, 64),
    "global_cell": (0, 4096), "d_scales": (1, 4),
}


STATS_FEATURES = ("discriminator", "random", "pixels")
STATS_PYRAMIDS = ("gaussian", "laplacian")
#: options that take one of a few words
CHOICES: dict[str, tuple[str, ...]] = {"stats_features": STATS_FEATURES, "stats_pyramid": STATS_PYRAMIDS}
#: allowed range of each real-valued option: (low, high, whether low itself is refused)
NUMBER_LIMITS: dict[str, tuple[float, float, bool]] = {
    "noise_init": (0, 10, False), "noise_lr": (0, 1000, True), "stats_weight": (0, float("inf"), False),
    "r1_contrast": (0, 1, False), "lecam": (0, 100, False),
}

#: what a run saved before each option existed meant by its absence (Family.added_later)
ADDED_LATER: dict[str, Any] = {
    "noise_dim": 0, "stats_features": "random", "noise_init": 0.1, "noise_lr": 1.0, "stats_scales": 1,
    "stats_pyramid": "gaussian", "stats_patch": 1, "stats_reference": 0, "pixel_reference": 0, "d_mbstd": 0,
    "global_cell": 0, "d_scales": 1, "lecam": 0.0, "augment": None,  # None: the run's --augment (colour + cutout by default then)
}
