/*
 * autolearn.h - the end of a message's END stage, for the spam classifier's autolearn:
 * what the engine decided for each recipient (the scores with every check's symbols, the
 * refusal or acceptance) turned into spam, ham or nothing (content/spam_autolearn.h), and
 * the message handed to the node's learner (content/spam_learner.h) or dropped.
 *
 * The session calls it once per message that reached END, after the END reply is known
 * (a refusal at END, or the accepted message committed): a message refused as spam at
 * END is learned too. Nothing happens unless the spam check scored the message with
 * autolearn on (its candidate, the fact spam.autolearn).
 * Threading: loop thread.
 */
#ifndef POSTERN_POLICY_AUTOLEARN_H
#define POSTERN_POLICY_AUTOLEARN_H

struct engine_session;

void policy_autolearn_end(struct engine_session *es, const char *qid);

#endif
