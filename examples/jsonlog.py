"""
A log observer for twistd's --logger option: every event, netlab's
connection events with all their fields included, as one JSON object, to
netlab-events.json in twistd's working directory (twisted.logger's own JSON
format, which twisted.logger.eventsFromJSONLogFile reads back).

    PYTHONPATH=examples twistd -n --logger jsonlog.observer netlab echo

(twist has this built in:  twist --log-format json netlab echo.)
"""

from twisted.logger import jsonFileLogObserver


def observer():
    # twistd calls this once, at startup, and sends it every event.
    return jsonFileLogObserver(open("netlab-events.json", "a", encoding="utf-8"))
