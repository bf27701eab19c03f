"""The Glance image and Nova flavor a server boots from, looked up by id or name.

Both functions return the cloud's id or raise a `CloudError`: `NotFoundError` (reasons
ImageNotFound / FlavorNotFound, with a message naming the catalog entry) or
`AmbiguousError` (ImageAmbiguous / FlavorAmbiguous) when a name is not unique.
"""

from __future__ import annotations

from openstack import exceptions as sdk_exc
from openstack.connection import Connection

from slices_bi.openstack import errors
from slices_bi.openstack.errors import NotFoundError, cloud_call


def resolve_image(conn: Connection, location: str, *, label: str, image_id: str) -> str:
    """The Glance image id for `location` (an image id or name) of catalog image `image_id`.

    Raises `NotFoundError` (reason ImageNotFound) when the image is missing or not active,
    `AmbiguousError` when several images carry that name.
    """
    with cloud_call(image_id=image_id, location=location):
        try:
            image = conn.image.find_image(location, ignore_missing=False)
        except sdk_exc.NotFoundException:
            image = None
        except sdk_exc.DuplicateResource:
            raise errors.AmbiguousError(
                f"several images in the cloud are named '{location}' (catalog image "
                f"'{label}', id {image_id}); an operator must set an image id as its location",
                reason=errors.IMAGE_AMBIGUOUS,
            ) from None
    if image is None or (image.status and image.status != "active"):
        state = "is not in the cloud any more" if image is None else f"is {image.status}"
        raise NotFoundError(
            f"image '{label}' (id {image_id}, cloud image '{location}') {state}",
            reason=errors.IMAGE_NOT_FOUND,
            image_id=image_id,
        )
    return str(image.id)


def resolve_flavor(conn: Connection, location: str, *, label: str, flavor_id: str) -> str:
    """The Nova flavor id for `location` (a flavor id or name) of catalog flavor `flavor_id`.

    Raises `NotFoundError` (reason FlavorNotFound) or `AmbiguousError`.
    """
    with cloud_call(flavor_id=flavor_id, location=location):
        try:
            flavor = conn.compute.find_flavor(location, ignore_missing=False)
        except sdk_exc.NotFoundException:
            flavor = None
        except sdk_exc.DuplicateResource:
            raise errors.AmbiguousError(
                f"several flavors in the cloud are named '{location}' (catalog flavor "
                f"'{label}', id {flavor_id})",
                reason=errors.FLAVOR_AMBIGUOUS,
            ) from None
    if flavor is None:
        raise NotFoundError(
            f"flavor '{label}' (id {flavor_id}, cloud flavor '{location}') is not in the "
            "cloud any more",
            reason=errors.FLAVOR_NOT_FOUND,
            flavor_id=flavor_id,
        )
    return str(flavor.id)
