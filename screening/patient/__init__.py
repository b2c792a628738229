"""The patient's side of the pathway (SPEC §3, §8, §9).

- links: opening a link, its expiry, the date-of-birth check and its lock
- responses: saving answers page by page; the one-time submission with its flags
- assisted: assisted mode: finding a patient, opening an episode in clinic or by phone
"""
