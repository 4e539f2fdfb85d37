"""Model governance: the registration gate, fairness exceptions, the Regulation B age check,
lineage, model cards and the replay of logged decisions."""
