"""A check's outcome as the small number raw results store (0: ok). Stored: never renumber."""

from berth_monitoring.enums import ErrorKind

OK = 0
OUTCOME_CODES: dict[ErrorKind, int] = {
    ErrorKind.TIMEOUT: 1,
    ErrorKind.DNS: 2,
    ErrorKind.REFUSED_TARGET: 3,
    ErrorKind.CONNECT: 4,
    ErrorKind.TLS: 5,
    ErrorKind.CERT_EXPIRING: 6,
    ErrorKind.STATUS: 7,
    ErrorKind.KEYWORD: 8,
    ErrorKind.JSON_PATH: 9,
    ErrorKind.NO_HEARTBEAT: 10,
    ErrorKind.PROCESS_DOWN: 11,
    ErrorKind.ERROR: 12,
}
KINDS_BY_CODE = {code: kind for kind, code in OUTCOME_CODES.items()}
