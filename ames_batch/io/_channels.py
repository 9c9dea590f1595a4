"""One parser for a channel the user names: by name first, then by index."""

__all__ = ["resolve_channel"]


def resolve_channel(names: list[str], wanted: str | int | None, *, default: str | None = None) -> int:
    """Index of the channel `wanted` among `names`: a name first, then an index.

    Parameters
    ----------
    names : list of str
        Channel names of the image, in order.
    wanted : str, int or None
        What the user wrote (``--channel``): a channel name (DV files name channels by
        wavelength, e.g. ``"525"``, so a digit string that names a channel is that channel),
        else a digit string or int read as a 0-based index. None: `default`, else channel 0.
    default : str, optional
        Name to use when `wanted` is None (e.g. the stain channel recorded at conversion).

    Returns
    -------
    index : int

    Raises
    ------
    TypeError
        If `wanted` is neither str, int nor None (a bool is refused).
    ValueError
        If no channel has that name and it is not a valid index; the message lists the names.

    Examples
    --------
    >>> resolve_channel(["435", "525"], "525"), resolve_channel(["435", "525"], "1")
    (1, 1)
    >>> resolve_channel(["dapi", "actinin"], None, default="actinin")
    1
    """
    names = [str(n) for n in names]
    if wanted is None:
        if default is None:
            return 0
        wanted = default
    if isinstance(wanted, bool) or not isinstance(wanted, (str, int)):
        raise TypeError(f"`channel` must be a name (str), an index (int) or None; got {type(wanted).__name__}")
    if isinstance(wanted, str):
        if wanted in names:
            return names.index(wanted)
        if not wanted.strip().isdigit():
            raise ValueError(f"no channel named {wanted!r}; the image has channels {names}; pass --channel")
        wanted = int(wanted)
    if not 0 <= wanted < len(names):
        raise ValueError(f"channel index {wanted} is out of range; the image has {len(names)} channels {names}")
    return wanted
