"""Checks of the identifiers an AuditEvent carries: NHS number, DICOM UID, ODS code."""

import re

from onboarding.pars.codes import pars_codes

NHS_NUMBER_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)


def nhs_number_valid(value: str) -> bool:
    """Ten digits whose last is the modulus-11 check digit of the first nine (a remainder giving
    10 means the number was never issued)."""
    if not (isinstance(value, str) and len(value) == 10 and value.isascii() and value.isdigit()):
        return False
    total = sum(int(digit) * weight for digit, weight in zip(value[:9], NHS_NUMBER_WEIGHTS, strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(value[9])


def dicom_uid_valid(value: str) -> bool:
    """Dot-separated numeric components without leading zeros, at most 64 characters (DICOM PS3.5 9.1)."""
    patterns = pars_codes()["patterns"]
    return (
        isinstance(value, str)
        and 0 < len(value) <= patterns["dicom_uid_max_length"]
        and re.fullmatch(patterns["dicom_uid"], value) is not None
    )


def ods_code_valid(value: str) -> bool:
    return isinstance(value, str) and re.fullmatch(pars_codes()["patterns"]["ods_code"], value) is not None


def home_community_id_valid(value: str) -> bool:
    if not isinstance(value, str) or re.fullmatch(pars_codes()["patterns"]["home_community_id"], value) is None:
        return False
    return dicom_uid_valid(value.removeprefix("urn:oid:"))
