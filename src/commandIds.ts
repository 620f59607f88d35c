/**
 * Every command id the extension registers and calls, in one table: the command palette, the runs
 * view, the CodeLens, the status bar and the webviews' buttons all name commands from here, and a
 * test keeps it equal to package.json's contributes.commands.
 */
export const COMMANDS = {
  startRun: 'bond.startRun',
  stopRun: 'bond.stopRun',
  resumeRun: 'bond.resumeRun',
  trainFurther: 'bond.trainFurther',
  revealRunFolder: 'bond.revealRunFolder',
  showTrainerLog: 'bond.showTrainerLog',
  openRunConfig: 'bond.openRunConfig',
  checkEnvironment: 'bond.checkEnvironment',
  deleteRun: 'bond.deleteRun',
  newConfig: 'bond.newConfig',
  refreshRuns: 'bond.refreshRuns',
  openDashboard: 'bond.openDashboard',
  openSamples: 'bond.openSamples',
  compareRuns: 'bond.compareRuns',
  openPlayground: 'bond.openPlayground',
  createDemoWorkspace: 'bond.createDemoWorkspace',
  renameRun: 'bond.renameRun',
  editRunNote: 'bond.editRunNote',
  editRunTags: 'bond.editRunTags',
  installMissingPackages: 'bond.installMissingPackages',
  startSweep: 'bond.startSweep',
  stopSweep: 'bond.stopSweep',
  openSweep: 'bond.openSweep',
  openExperiments: 'bond.openExperiments',
  queueRun: 'bond.queueRun',
  queueMoveUp: 'bond.queueMoveUp',
  queueMoveDown: 'bond.queueMoveDown',
  queueRemove: 'bond.queueRemove',
  queuePause: 'bond.queuePause',
  queueResume: 'bond.queueResume',
} as const;

export type CommandId = (typeof COMMANDS)[keyof typeof COMMANDS];
