"""Closing the loop (SPEC §13): the services answer their referrals.

- answers: a referral accepted, declined or completed, by its service or by a prescriber
  the service told by phone; the funnel's `helped` when the service says it helped
- partners: what a partner at a service may see, and nothing more
- chaser: referrals overdue for an answer, and the one reminder their service gets
- notices: the mails that tell a service a referral waits (no patient detail)
"""
