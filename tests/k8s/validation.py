"""Field validation helpers with kube-apiserver's error vocabulary.

A failed validation answers 422 Invalid with one cause per field, worded as
kube-apiserver words them ("spec.ports[0].port: Invalid value: 0: must be
between 1 and 65535, inclusive"), so a client's error handling sees what it
would see from a real cluster.
"""

import ipaddress
import json
import re
from dataclasses import dataclass

from selection import check_label_key, check_label_value

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_IANA_SVC_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")

# Kubernetes limits (apimachinery validation): label 63, subdomain 253 characters.
DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
# metadata.annotations: 256 KiB in total (apimachinery TotalAnnotationSizeLimitB).
ANNOTATIONS_MAX_BYTES = 256 * 1024


@dataclass
class FieldError:
    field: str
    reason: str  # FieldValueInvalid, FieldValueRequired, ...
    detail: str

    @property
    def message(self) -> str:
        return f"{self.field}: {self.detail}"


def invalid(field: str, value, why: str) -> FieldError:
    shown = value if isinstance(value, (int, float)) and not isinstance(value, bool) else json.dumps(value)
    return FieldError(field, "FieldValueInvalid", f"Invalid value: {shown}: {why}")


def required(field: str, why: str = "") -> FieldError:
    return FieldError(field, "FieldValueRequired", "Required value" + (f": {why}" if why else ""))


def unsupported(field: str, value, allowed) -> FieldError:
    listed = ", ".join(json.dumps(a) for a in allowed)
    return FieldError(field, "FieldValueNotSupported", f"Unsupported value: {json.dumps(value)}: supported values: {listed}")


def forbidden(field: str, why: str) -> FieldError:
    return FieldError(field, "FieldValueForbidden", f"Forbidden: {why}")


def duplicate(field: str, value) -> FieldError:
    return FieldError(field, "FieldValueDuplicate", f"Duplicate value: {json.dumps(value)}")


def immutable(field: str, value) -> FieldError:
    return invalid(field, value, "field is immutable")


def dns1123_label(field: str, value) -> list:
    if not isinstance(value, str) or len(value) > DNS1123_LABEL_MAX or not _DNS1123_LABEL.match(value):
        return [invalid(field, value, "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character")]
    return []


def dns1035_label(field: str, value) -> list:
    if not isinstance(value, str) or len(value) > DNS1123_LABEL_MAX or not _DNS1035_LABEL.match(value):
        return [invalid(field, value, "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character")]
    return []


def dns1123_subdomain(field: str, value) -> list:
    if not isinstance(value, str) or len(value) > DNS1123_SUBDOMAIN_MAX or not _DNS1123_SUBDOMAIN.match(value):
        return [invalid(field, value, "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character")]
    return []


def port_number(field: str, value, allow_zero: bool = False) -> list:
    low = 0 if allow_zero else 1
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= 65535:
        return [invalid(field, value, f"must be between {low} and 65535, inclusive")]
    return []


def port_name(field: str, value) -> list:
    if not isinstance(value, str) or len(value) > 15 or not _IANA_SVC_NAME.match(value) or "--" in value or not re.search("[a-z]", value):
        return [invalid(field, value, "must be no more than 15 characters, contain only lowercase alphanumeric characters or '-', contain at least one letter, and not start or end with '-' or contain '--'")]
    return []


def protocol(field: str, value) -> list:
    allowed = ("SCTP", "TCP", "UDP")
    return [] if value in allowed else [unsupported(field, value, allowed)]


def ip_address(field: str, value, version: int = 0) -> list:
    try:
        addr = ipaddress.ip_address(value)
        if version and addr.version != version:
            raise ValueError
    except (ValueError, TypeError):
        what = f"an IPv{version}" if version else "a valid IP"
        return [invalid(field, value, f"must be {what} address")]
    return []


def cidr(field: str, value) -> list:
    try:
        ipaddress.ip_network(value, strict=False)
    except (ValueError, TypeError):
        return [invalid(field, value, "must be a CIDR, (e.g. 10.0.0.0/8)")]
    return []


def one_of(field: str, value, allowed) -> list:
    return [] if value in allowed else [unsupported(field, value, allowed)]


def label_map(field: str, value) -> list:
    """metadata.labels: qualified keys, values of at most 63 characters."""
    if value is None:
        return []
    if not isinstance(value, dict):
        return [invalid(field, value, "must be a map of strings")]
    errs = []
    for k, v in value.items():
        try:
            check_label_key(k)
            check_label_value(v if isinstance(v, str) else "?!")
        except ValueError as e:
            errs.append(invalid(f"{field}", {k: v}, str(e)))
    return errs
