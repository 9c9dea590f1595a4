"""Parameter records of the synthetic cardiomyocyte generator and its scale presets.

Every length is in µm and every angle in degrees. Angles in the field are measured
from the array's x axis (columns) towards its y axis (rows), so on a screen with the
origin at the top left a positive angle turns clockwise.
"""

from dataclasses import asdict, dataclass

import numpy as np

from ..vocabulary import SOURCES

__all__ = [
    "SOURCES",
    "LOOKS",
    "SIM_SCALE_UM",
    "DEMO_SCALE_UM",
    "CellParams",
    "OpticsParams",
    "OpticsParamsB",
    "OpticsParamsD",
]

#: Renderings of the same cell truth: "a" (SIM-like, analytic stripes) and "b" (point-built
#: z-discs, widefield- or Airyscan-like camera) by independent code, "c", a's cells through
#: b's camera: a combination neither trained model of a and b has seen, and "d" (continuous
#: beaded z-lines, stress fibres, spinning-disk confocal with an EMCCD), independent of both and
#: held out: no shipped model is trained on it (docs/synthetic-cells.md). New looks go at the end
#: (seeds elsewhere use ``LOOKS.index(look)``).
LOOKS: tuple[str, ...] = ("a", "b", "c", "d")

#: Close to a real 3D-SIM stack: 0.125 µm z-step; 0.08 µm pixels, i.e. a 0.04 µm
#: reconstruction binned 2 x 2 so that an adult cell (150 µm) stays tractable.
SIM_SCALE_UM: dict[str, float] = {"z": 0.125, "y": 0.08, "x": 0.08}

#: Coarse preset for the quick demo and for training sets: about 11 px per sarcomere.
DEMO_SCALE_UM: dict[str, float] = {"z": 0.5, "y": 0.16, "x": 0.16}


@dataclass(frozen=True)
class CellParams:
    """Every parameter of one synthetic cardiomyocyte (µm, degrees).

    The record fully defines the cell's emission: the same record renders the
    same cell (placement and optics are the field's). Draw one with
    :func:`sample_cell_params`; :func:`rate_cell` turns it into the three labels
    by the rules of ``docs/synthetic-cells.md``.

    Attributes
    ----------
    source : str
        ``"adult"``, ``"neonatal"`` or ``"ipsc"``.
    length_um, width_um : float
        Nominal extent along and across the long axis (``length_um >= 1.3 * width_um``).
    long_axis_deg : float
        Orientation of the long axis in the field, [0, 180), from x towards y.
    height_um : float
        Thickness of the cell body in its middle; it thins towards the outline.
    nucleus_height_um : float
        Extra thickness where the body bulges over its nucleus (a dome on the nucleus footprint).
    shape_exponent : float
        Superellipse exponent of the outline: 2 is an ellipse, larger is a rod.
    roughness : float
        Relative amplitude of the outline's harmonics (orders 3..8).
    polygonality : float
        Extra weight on outline orders 3..6 (corners of a spread, polygonal cell).
    sarcomere_length_um : float
        Z-disc spacing along a myofibril (per cell).
    sarcomere_jitter_um : float
        Standard deviation of each z-disc's position about the regular lattice.
    zdisc_thickness_um : float
        Full width at half maximum of one z-disc stripe.
    zdisc_angle_deg : float
        Angle of the z-disc stripes to the long axis, (-90, 90]; 0 = parallel,
        +-90 = perpendicular. Myofibrils run perpendicular to the stripes.
    orientation_disorder_deg : float
        Standard deviation of the stripe angle between myofibril domains.
    organised_fraction : float
        Fraction of the cell area filled with organised myofibrils, (0, 1].
    fibril_width_um, fibril_gap_um : float
        Mean myofibril width and mean gap between neighbouring myofibrils.
    fibril_fill : float
        Probability that a myofibril is present along a stretch of the organised region.
    fibril_branching : float
        Probability that a myofibril lane branches into its neighbour somewhere, [0, 1].
    fibril_bend_um, fibril_bend_period_um : float
        Amplitude and wavelength of the myofibrils' lateral bending.
    register_jitter_um : float
        Standard deviation of the z-disc offset between neighbouring myofibrils.
    domain_size_um : float
        Typical size of a myofibril domain sharing one orientation.
    stripe_contrast : float
        1 - (signal between z-discs / z-disc peak) inside a myofibril, (0, 1].
    stripe_sharpness : float
        Exponent of the stripe profile ``exp(-|d / a| ** p)``: 2 Gaussian, larger flatter.
    zdisc_brightness_cv : float
        Coefficient of variation of single z-disc brightness (speckled look).
    zdisc_tilt_deg : float
        Standard deviation of single z-discs' tilt within their myofibril (wavy discs).
    zdisc_out_of_plane_deg : float
        Standard deviation of the z-lines' tilt out of the image plane: a myofibril sheet rolls
        about its fibril axis by this much per domain, on top of following the body's dome.
    fibril_layers : int
        Number of myofibril layers stacked in the body's depth (1 in a flat cell, more in a rod).
    zbody_density_per_um2 : float
        Punctate z-bodies per µm² outside the organised region.
    zbody_size_um : float
        Standard deviation (µm) of a z-body's Gaussian spot.
    zbody_brightness : float
        Peak z-body brightness relative to a z-disc.
    diffuse_level : float
        Diffuse cytoplasmic stain relative to a z-disc peak.
    brightness : float
        Overall brightness factor of this cell.
    detail_seed : int
        Seed of the cell's fine detail (outline harmonics, fibril layout, z-bodies).
    """

    source: str
    length_um: float
    width_um: float
    long_axis_deg: float
    height_um: float
    nucleus_height_um: float
    shape_exponent: float
    roughness: float
    polygonality: float
    sarcomere_length_um: float
    sarcomere_jitter_um: float
    zdisc_thickness_um: float
    zdisc_angle_deg: float
    orientation_disorder_deg: float
    organised_fraction: float
    fibril_width_um: float
    fibril_gap_um: float
    fibril_fill: float
    fibril_branching: float
    fibril_bend_um: float
    fibril_bend_period_um: float
    register_jitter_um: float
    domain_size_um: float
    stripe_contrast: float
    stripe_sharpness: float
    zdisc_brightness_cv: float
    zdisc_tilt_deg: float
    zdisc_out_of_plane_deg: float
    fibril_layers: int
    zbody_density_per_um2: float
    zbody_size_um: float
    zbody_brightness: float
    diffuse_level: float
    brightness: float
    detail_seed: int

    def __post_init__(self):
        if self.source not in SOURCES:
            raise ValueError(f"`source` must be one of {SOURCES}; got {self.source!r}")
        for name, value in asdict(self).items():
            if name != "source" and not np.isfinite(value):
                raise ValueError(f"`{name}` must be finite; got {value}")
        for name in ("length_um", "width_um", "height_um", "shape_exponent", "sarcomere_length_um",
                     "zdisc_thickness_um", "fibril_width_um", "fibril_bend_period_um", "domain_size_um",
                     "stripe_sharpness", "zbody_size_um", "brightness"):
            if getattr(self, name) <= 0:
                raise ValueError(f"`{name}` must be > 0; got {getattr(self, name)}")
        for name in ("roughness", "polygonality", "sarcomere_jitter_um", "orientation_disorder_deg",
                     "fibril_gap_um", "fibril_bend_um", "register_jitter_um", "zdisc_brightness_cv",
                     "zdisc_tilt_deg", "zdisc_out_of_plane_deg", "nucleus_height_um", "zbody_density_per_um2",
                     "zbody_brightness", "diffuse_level"):
            if getattr(self, name) < 0:
                raise ValueError(f"`{name}` must be >= 0; got {getattr(self, name)}")
        if self.width_um > self.length_um:
            raise ValueError(f"`width_um` ({self.width_um}) must not exceed `length_um` ({self.length_um})")
        if not 0 < self.organised_fraction <= 1:
            raise ValueError(f"`organised_fraction` must be in (0, 1]; got {self.organised_fraction}")
        if not 0 < self.stripe_contrast <= 1:
            raise ValueError(f"`stripe_contrast` must be in (0, 1]; got {self.stripe_contrast}")
        for name in ("fibril_fill", "fibril_branching"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"`{name}` must be in [0, 1]; got {getattr(self, name)}")
        if isinstance(self.fibril_layers, bool) or not isinstance(self.fibril_layers, (int, np.integer)) \
                or self.fibril_layers < 1:
            raise ValueError(f"`fibril_layers` must be an int >= 1; got {self.fibril_layers!r}")
        if not -90 <= self.zdisc_angle_deg <= 90:
            raise ValueError(f"`zdisc_angle_deg` must be in [-90, 90]; got {self.zdisc_angle_deg}")

    def as_dict(self) -> dict:
        """All parameters as a flat ``{name: value}`` dict (CSV columns)."""
        return asdict(self)


@dataclass(frozen=True)
class OpticsParams:
    """Acquisition of one field: blur, brightness, background and noise.

    Attributes
    ----------
    blur_lateral_um, blur_axial_um : float
        Full width at half maximum of the point-spread function in x/y and z.
    photons_per_unit : float
        Expected photo-electrons at a z-disc peak of unit brightness.
    background_photons : float
        Mean background (photo-electrons) in the middle of the field.
    background_gradient : float
        Relative background change from one field edge to the other.
    background_angle_deg : float
        Direction of the background gradient.
    illumination_unevenness : float
        Relative amplitude of the smooth multiplicative illumination pattern.
    haze_level : float
        Out-of-focus haze relative to the local in-focus signal.
    haze_sigma_um : float
        Lateral width of the haze.
    read_noise : float
        Standard deviation of the camera read noise in counts.
    offset_counts : float
        Camera offset added to every pixel (counts).
    gain : float
        Counts per photo-electron.
    sim_speckle : float
        Relative amplitude of the fine multiplicative speckle left by SIM reconstruction.
    """

    blur_lateral_um: float
    blur_axial_um: float
    photons_per_unit: float
    background_photons: float
    background_gradient: float
    background_angle_deg: float
    illumination_unevenness: float
    haze_level: float
    haze_sigma_um: float
    read_noise: float
    offset_counts: float
    gain: float
    sim_speckle: float

    def as_dict(self) -> dict:
        """All parameters as a flat ``{name: value}`` dict."""
        return asdict(self)



@dataclass(frozen=True)
class OpticsParamsB:
    """Acquisition of one look-"b" field: a camera behind a widefield or Airyscan-like microscope.

    Attributes
    ----------
    mode : str
        ``"widefield"`` (wide point-spread function, strong out-of-focus haze) or
        ``"airyscan"`` (narrower, little haze).
    blur_lateral_um, blur_axial_um : float
        Full width at half maximum of the in-focus point-spread function in x/y and z.
    haze_level : float
        Out-of-focus light a plane adds to every other plane, per µm of depth, relative to its
        in-focus light (falling off with defocus).
    haze_axial_um : float
        Half width at half maximum of the haze's Lorentzian fall-off with defocus.
    haze_lateral_um : float
        Lateral standard deviation of the haze.
    photons_per_unit : float
        Expected photo-electrons at a z-disc dot of unit brightness.
    background_photons : float
        Mean background (photo-electrons per pixel).
    vignetting : float
        Relative loss of light at the field's corners (radial, quadratic).
    vignette_centre_yx : tuple of float
        Centre of the vignetting, as a fraction of the field's height and width.
    gain : float
        Counts per photo-electron.
    offset_counts : float
        Camera offset (counts).
    read_noise : float
        Read noise, standard deviation in counts.
    fixed_pattern : float
        Standard deviation (counts) of the per-pixel offset (an sCMOS's fixed pattern).
    bit_depth : int
        8, 12 or 16: counts are clipped to ``2**bit_depth - 1``; 8-bit files are exports,
        scaled from the camera offset to `export_headroom` times the 99.9th percentile.
    export_headroom : float
        Head room of an 8-bit export's white point above the 99.9th percentile.
    display_gamma : float
        Gamma of an 8-bit export (1 = linear); ignored at 12 and 16 bits.
    """

    mode: str
    blur_lateral_um: float
    blur_axial_um: float
    haze_level: float
    haze_axial_um: float
    haze_lateral_um: float
    photons_per_unit: float
    background_photons: float
    vignetting: float
    vignette_centre_yx: tuple[float, float]
    gain: float
    offset_counts: float
    read_noise: float
    fixed_pattern: float
    bit_depth: int
    export_headroom: float
    display_gamma: float

    def as_dict(self) -> dict:
        """All parameters as a flat ``{name: value}`` dict."""
        return asdict(self)


@dataclass(frozen=True)
class OpticsParamsD:
    """Acquisition of one look-"d" field: a spinning-disk confocal with an EMCCD camera.

    Heights are above the coverslip; the side "above" an emitter is away from the coverslip.

    Attributes
    ----------
    blur_lateral_um : float
        Full width at half maximum (µm) of the lateral point-spread function, a Moffat profile
        ``(1 + (r / alpha) ** 2) ** -psf_beta`` (heavier tails than a Gaussian of that width).
    psf_beta : float
        Moffat exponent, > 1: smaller is a heavier tail (a Gaussian is the limit of large values).
    blur_axial_um : float
        Full width at half maximum (µm) of the axial point-spread function (a split normal).
    axial_asymmetry : float
        Ratio of the axial half widths above and below focus, >= 1: the tail away from the
        coverslip that spherical aberration (oil objective into water) gives.
    crosstalk_level : float
        Pinhole cross-talk: out-of-focus light a plane adds to every other plane, per µm of
        depth, relative to its in-focus light (falling off with defocus).
    crosstalk_axial_um : float
        Half width at half maximum (µm) of the cross-talk's Lorentzian fall-off with defocus.
    crosstalk_lateral_um : float
        Lateral standard deviation (µm) of the cross-talk haze.
    photons_per_unit : float
        Expected photo-electrons at an in-focus z-disc of unit brightness.
    background_photons : float
        Autofluorescence and scattered light (photo-electrons per pixel and plane).
    vignetting : float
        Flat-field fall-off: relative loss of light (signal and background) at a corner of a
        centred field, in [0, 1), with the cos**4 law's shape ``(1 + k r**2) ** -2``.
    vignette_centre_yx : tuple of float
        Centre of the fall-off, as a fraction of the field's height and width.
    bleach_per_um : float
        Photobleaching: signal lost per µm of stack acquired, ``exp(-bleach_per_um * z)`` after
        acquiring `z` µm (the background does not bleach).
    acquired_upwards : bool
        Planes acquired from the coverslip up (True) or from the top down.
    drift_yx_um_per_um : tuple of float
        Linear lateral stage drift (µm of y and x per µm of stack acquired).
    drift_jitter_um : float
        Standard deviation (µm) of each plane's extra random step of lateral drift (a random walk).
    em_gain : float
        Mean electron-multiplying gain: n photo-electrons leave the register as Gamma(n, em_gain).
    sensitivity_e_per_count : float
        Electrons (after multiplication) per count of the analogue-to-digital converter.
    spurious_charge : float
        Clock-induced charge: mean spurious electrons per pixel and plane before the gain register.
    read_noise : float
        Read noise, standard deviation in counts.
    row_pattern : float
        Standard deviation (counts) of a fixed offset per camera row (the same in every plane).
    offset_counts : float
        Camera offset (counts).
    bit_depth : int
        14 or 16: counts are clipped to ``2**bit_depth - 1``.
    """

    blur_lateral_um: float
    psf_beta: float
    blur_axial_um: float
    axial_asymmetry: float
    crosstalk_level: float
    crosstalk_axial_um: float
    crosstalk_lateral_um: float
    photons_per_unit: float
    background_photons: float
    vignetting: float
    vignette_centre_yx: tuple[float, float]
    bleach_per_um: float
    acquired_upwards: bool
    drift_yx_um_per_um: tuple[float, float]
    drift_jitter_um: float
    em_gain: float
    sensitivity_e_per_count: float
    spurious_charge: float
    read_noise: float
    row_pattern: float
    offset_counts: float
    bit_depth: int

    def as_dict(self) -> dict:
        """All parameters as a flat ``{name: value}`` dict."""
        return asdict(self)
